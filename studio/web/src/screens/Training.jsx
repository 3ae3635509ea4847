// #/training — per training run: loss, lr and throughput curves, config and report.
import { useApi } from '../api.js';
import LineChart from '../LineChart.jsx';
import { KVTable, NotBuilt, Section, Status } from '../common.jsx';

const points = (metrics, key) =>
  metrics.filter((m) => typeof m[key] === 'number' && Number.isFinite(m[key])).map((m) => ({ x: m.step, y: m[key] }));

function Run({ run }) {
  const m = run.metrics || [];
  return (
    <Section
      title={
        <>
          {run.stage} <span className={`badge state-${run.state}`}>{run.state}</span>
        </>
      }
    >
      {m.length === 0 ? (
        <div className="muted">No metrics yet.</div>
      ) : (
        <div className="charts">
          <LineChart
            title="loss"
            series={[
              { label: 'loss', points: points(m, 'loss') },
              { label: 'val_loss', points: points(m, 'val_loss') },
            ]}
          />
          <LineChart title="learning rate" series={[{ label: 'lr', points: points(m, 'lr') }]} />
          <LineChart title="throughput" series={[{ label: 'tokens/s', points: points(m, 'tokens_per_s') }]} />
        </div>
      )}
      <div className="cols">
        <div>
          <h4>Config</h4>
          <KVTable obj={run.config} />
        </div>
        <div>
          <h4>Report</h4>
          <KVTable obj={run.report} />
        </div>
      </div>
    </Section>
  );
}

export default function Training() {
  const res = useApi('/api/training', {
    poll: (d) => !!d && (d.runs || []).some((r) => r.state === 'running'),
    every: 2000,
  });
  const runs = (res.data && res.data.runs) || [];
  return (
    <div>
      <h2>Training</h2>
      <Status {...res} />
      {res.data && runs.length === 0 && <NotBuilt what="training runs" />}
      {runs.map((r) => (
        <Run key={r.stage} run={r} />
      ))}
    </div>
  );
}
