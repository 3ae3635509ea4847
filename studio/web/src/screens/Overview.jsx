// #/ — the stage graph, the stage table with Run/Force, and the rounds at a glance.
import { useState } from 'react';
import { useNavigate } from 'react-router-dom';
import { postJSON, useApi } from '../api.js';
import Graph from '../Graph.jsx';
import { ErrorBox, Section, Status, fmtCI, fmtNum, fmtPct, fmtSeconds, fmtTime } from '../common.jsx';

export const STATE_COLORS = {
  fresh: '#3fa66a',
  stale: '#e3a21a',
  running: '#2f6fde',
  failed: '#d64545',
  not_run: '#b8c2cc',
};

const KEY_COUNTERS = ['documents', 'chunks', 'chains', 'statements', 'concepts', 'items', 'samples'];

export const anyRunning = (ov) =>
  !!ov && ((ov.jobs || []).some((j) => j.state === 'running') || (ov.stages || []).some((s) => s.state === 'running'));

function StateBadge({ state }) {
  return (
    <span className="badge" style={{ background: STATE_COLORS[state] || '#ccc' }}>
      {state}
    </span>
  );
}

function usageText(u) {
  if (!u || !u.calls) return '—';
  const tokens = (u.prompt_tokens || 0) + (u.completion_tokens || 0);
  return `${fmtNum(u.calls)} calls · ${fmtNum(u.cached_calls || 0)} cached · ${fmtNum(tokens)} tok`;
}

/** Accuracy per split from a round record, whatever its exact shape. */
function splitAccuracies(r) {
  const src = r.overall || r.accuracy || r.splits || {};
  if (typeof src !== 'object') return [];
  return Object.entries(src).map(([split, v]) =>
    typeof v === 'number' ? { split, accuracy: v } : { split, accuracy: v && v.accuracy, ci: v && v.ci, n: v && (v.items ?? v.n) },
  );
}

/**
 * The stage DAG laid out left to right by longest path from the sources (a dagre-like layered
 * layout; cytoscape's breadthfirst ranks by shortest path, which puts `debug` next to `spec`).
 */
function stageGraph(stages, edges) {
  const names = stages.map((s) => s.name);
  const preds = Object.fromEntries(names.map((n) => [n, []]));
  edges.forEach(([a, b]) => preds[b].push(a));
  const rank = {};
  const visit = (n, seen = new Set()) => {
    if (rank[n] !== undefined) return rank[n];
    if (seen.has(n)) return 0; // a cycle should not happen; do not loop on one
    seen.add(n);
    rank[n] = preds[n].length ? 1 + Math.max(...preds[n].map((p) => visit(p, seen))) : 0;
    return rank[n];
  };
  names.forEach((n) => visit(n));
  const byRank = {};
  names.forEach((n) => (byRank[rank[n]] = byRank[rank[n]] || []).push(n));
  const elements = stages.map((s) => {
    const col = byRank[rank[s.name]];
    const i = col.indexOf(s.name);
    return {
      data: { id: s.name, label: s.name, color: STATE_COLORS[s.state] || '#ccc', state: s.state },
      position: { x: rank[s.name] * 100, y: (i - (col.length - 1) / 2) * 70 },
    };
  });
  edges.forEach(([a, b], i) => {
    const span = rank[b] - rank[a];
    elements.push({
      data: { id: `e${i}-${a}-${b}`, source: a, target: b, label: '', cpd: span > 1 ? (i % 2 ? 1 : -1) * 22 * span : 0 },
      classes: span > 1 ? 'long' : '',
    });
  });
  const graphKey = JSON.stringify(elements.map((e) => [e.data.id, e.data.color]));
  return { elements, graphKey };
}

/** The screen that shows a stage's output. */
function screenOf(stage) {
  const k = String((stage && (stage.kind || stage.name)) || '').split('.')[0];
  const map = {
    spec: '/corpus',
    extract: '/knowledge',
    merge: '/knowledge',
    bench: '/benchmark',
    build: '/training-data',
    train: '/training',
    eval: '/evaluation',
    debug: '/diagnosis',
  };
  return map[k] || '/runs';
}

export default function Overview() {
  const ov = useApi('/api/overview', { poll: anyRunning, every: 2000 });
  const navigate = useNavigate();
  const [msg, setMsg] = useState(null);
  const [actionError, setActionError] = useState(null);
  const data = ov.data;

  const start = async (stage, force) => {
    setActionError(null);
    setMsg(null);
    try {
      const job = await postJSON('/api/jobs', { stage, force });
      setMsg(`Started job ${job.id}: ${Array.isArray(job.command) ? job.command.join(' ') : job.command}`);
      ov.reload();
    } catch (e) {
      setActionError(e);
    }
  };

  const stages = (data && data.stages) || [];
  const edges = ((data && data.edges) || []).filter(
    ([a, b]) => stages.some((s) => s.name === a) && stages.some((s) => s.name === b),
  );
  const { elements, graphKey } = stageGraph(stages, edges);

  return (
    <div>
      <h2>Overview</h2>
      <Status {...ov} />
      {data && (
        <>
          <Section title={`Stages — ${data.workspace || ''}`}>
            <div className="legend">
              {Object.entries(STATE_COLORS).map(([k, c]) => (
                <span key={k}>
                  <i style={{ background: c }} /> {k}
                </span>
              ))}
            </div>
            {stages.length ? (
              <Graph
                testid="pipeline-graph"
                elements={elements}
                elementsKey={graphKey}
                height={250}
                layout={{ name: 'preset', fit: true, padding: 24 }}
                onNodeTap={(id) => {
                  const s = stages.find((x) => x.name === id);
                  navigate(screenOf(s));
                }}
                style={[
                  { selector: 'node', style: { shape: 'round-rectangle', width: 64, height: 22 } },
                  {
                    selector: 'edge.long',
                    style: {
                      'curve-style': 'unbundled-bezier',
                      'control-point-distances': 'data(cpd)',
                      'control-point-weights': 0.5,
                    },
                  },
                ]}
              />
            ) : (
              <div className="notbuilt">No stages in this workspace yet.</div>
            )}
          </Section>
          <Section title="Stage table">
            {msg && <div className="info">{msg}</div>}
            <ErrorBox error={actionError} />
            <div className="dt-scroll">
              <table className="grid">
                <thead>
                  <tr>
                    <th>stage</th>
                    <th>state</th>
                    <th>fingerprint</th>
                    <th>finished</th>
                    <th className="num">time</th>
                    <th>counters</th>
                    <th className="num">rejected</th>
                    <th>LLM usage</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {stages.map((s) => {
                    const c = s.counters || {};
                    const counters = KEY_COUNTERS.filter((k) => c[k] !== undefined);
                    return (
                      <tr key={s.name} data-testid={`stage-${s.name}`} data-state={s.state}>
                        <td className="nowrap">
                          <strong>{s.name}</strong>
                          {s.label ? <span className="muted"> ({s.label})</span> : null}
                        </td>
                        <td>
                          <StateBadge state={s.state} />
                        </td>
                        <td className="mono small" title={s.fingerprint || ''}>
                          {s.fingerprint ? s.fingerprint.slice(0, 10) : '—'}
                        </td>
                        <td className="nowrap small" title={s.finished_at || ''}>
                          {s.finished_at ? fmtTime(s.finished_at).replace(/:\d\d UTC$/, '') : '—'}
                        </td>
                        <td className="num nowrap">{fmtSeconds(s.seconds)}</td>
                        <td>
                          {counters.length
                            ? counters.map((k) => (
                                <span key={k} className="chip">
                                  {k} {fmtNum(c[k])}
                                </span>
                              ))
                            : <span className="muted">—</span>}
                        </td>
                        <td className="num">{s.rejected_total ? fmtNum(s.rejected_total) : '—'}</td>
                        <td className="small">{usageText(s.usage)}</td>
                        <td className="nowrap">
                          <button
                            type="button"
                            data-testid={`run-${s.name}`}
                            disabled={s.state === 'running'}
                            onClick={() => start(s.name, false)}
                          >
                            Run
                          </button>{' '}
                          <button
                            type="button"
                            className="secondary"
                            data-testid={`force-${s.name}`}
                            disabled={s.state === 'running'}
                            onClick={() => start(s.name, true)}
                          >
                            Force
                          </button>
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </div>
          </Section>
          <Section title="Rounds at a glance">
            {(data.rounds || []).length === 0 ? (
              <div className="notbuilt">No evaluated rounds yet.</div>
            ) : (
              <table className="grid">
                <thead>
                  <tr>
                    <th>round</th>
                    <th>arm</th>
                    <th>stage</th>
                    <th>accuracy per split (95% CI)</th>
                  </tr>
                </thead>
                <tbody>
                  {data.rounds.map((r, i) => (
                    <tr key={`${r.stage || ''}-${i}`}>
                      <td>{r.round ?? '—'}</td>
                      <td>
                        {r.arm || '—'}
                        {r.label ? <span className="muted"> ({r.label})</span> : null}
                      </td>
                      <td>{r.stage || '—'}</td>
                      <td>
                        {splitAccuracies(r).map((a) => (
                          <span key={a.split} className="chip">
                            {a.split} <strong>{fmtPct(a.accuracy)}</strong> <span className="muted">{fmtCI(a.ci)}</span>
                            {a.n !== undefined ? <span className="muted"> n={a.n}</span> : null}
                          </span>
                        ))}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
        </>
      )}
    </div>
  );
}
