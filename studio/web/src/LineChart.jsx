// A Chart.js line chart of series over a numeric x axis.
import { useEffect, useRef } from 'react';
import {
  Chart,
  CategoryScale,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
} from 'chart.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Legend, Tooltip);

const COLORS = ['#2f6fde', '#e8833a', '#2e9d5b', '#c0392b', '#7b61c4'];

/** series: [{label, points: [{x, y}]}] */
export default function LineChart({ title, series, xLabel = 'step', height = 220, testid = 'train-chart' }) {
  const canvas = useRef(null);
  const chart = useRef(null);
  const key = JSON.stringify(series);

  useEffect(() => {
    const datasets = series.map((s, i) => ({
      label: s.label,
      data: s.points,
      borderColor: COLORS[i % COLORS.length],
      backgroundColor: COLORS[i % COLORS.length],
      pointRadius: s.points.length > 60 ? 0 : 2,
      borderWidth: 1.5,
      spanGaps: true,
      tension: 0,
    }));
    if (chart.current) {
      chart.current.data.datasets = datasets;
      chart.current.update('none');
      return;
    }
    chart.current = new Chart(canvas.current, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        parsing: true,
        scales: {
          x: { type: 'linear', title: { display: true, text: xLabel } },
          y: { type: 'linear', beginAtZero: false },
        },
        plugins: { legend: { display: true, position: 'bottom' } },
      },
    });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);

  useEffect(
    () => () => {
      if (chart.current) chart.current.destroy();
      chart.current = null;
    },
    [],
  );

  return (
    <div className="chart" data-testid={testid}>
      {title && <div className="chart-title">{title}</div>}
      <div style={{ position: 'relative', height }}>
        <canvas ref={canvas} />
      </div>
    </div>
  );
}
