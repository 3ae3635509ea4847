// #/evaluation — leaderboard, accuracy by discipline, the round diff, per-node accuracy.
import { Fragment, useEffect, useMemo, useState } from 'react';
import { qs, useApi } from '../api.js';
import DataTable from '../DataTable.jsx';
import { NodeLink, NotBuilt, Section, Status, Value, fmtCI, fmtPct, truncate } from '../common.jsx';

const SPLIT_ORDER = ['dev', 'test', 'transfer', 'reference'];
const CHANGES = ['fixed', 'broken', 'still_failing', 'still_passing'];

function splitsOf(runs, key = 'overall') {
  const s = new Set();
  runs.forEach((r) => Object.keys(r[key] || {}).forEach((k) => s.add(k)));
  return [...s].sort((a, b) => (SPLIT_ORDER.indexOf(a) + 99) % 99 - (SPLIT_ORDER.indexOf(b) + 99) % 99 || a.localeCompare(b));
}

function Acc({ v }) {
  if (!v || typeof v.accuracy !== 'number') return <span className="muted">—</span>;
  return (
    <span>
      <strong>{fmtPct(v.accuracy)}</strong>{' '}
      <span className="muted small nowrap">
        {fmtCI(v.ci)}
        {v.items !== undefined && ` n=${v.items}`}
      </span>
    </span>
  );
}

function tableOf(stage, prefix) {
  if (!stage || !stage.tables) return null;  // an eval run or an overview stage: {tables: {name: rows}}
  return Object.keys(stage.tables).find((t) => t === prefix || t.startsWith(`${prefix}.`)) || null;
}

function Leaderboard({ runs }) {
  const splits = splitsOf(runs);
  return (
    <Section title="Leaderboard">
      <div className="dt-scroll">
        <table className="grid" data-testid="leaderboard">
          <thead>
            <tr>
              <th>stage</th>
              <th>round</th>
              <th>arm</th>
              <th>label</th>
              <th>model</th>
              {splits.map((s) => (
                <th key={s}>{s}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.stage} data-testid={`eval-${r.stage}`}>
                <td>
                  <strong>{r.stage}</strong>
                </td>
                <td>{r.round ?? '—'}</td>
                <td>{r.arm ?? '—'}</td>
                <td>{r.label ?? '—'}</td>
                <td>
                  <span title={r.model || ''}>{r.model ? truncate(String(r.model).split('/').slice(-2).join('/'), 32) : '—'}</span>
                </td>
                {splits.map((s) => (
                  <td key={s}>
                    <Acc v={(r.overall || {})[s]} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

function ByDiscipline({ runs }) {
  const splits = splitsOf(runs, 'by_discipline');
  const [split, setSplit] = useState('');
  const cur = split || splits[0] || '';
  const discs = new Set();
  runs.forEach((r) => Object.keys(((r.by_discipline || {})[cur]) || {}).forEach((d) => discs.add(d)));
  const cols = [...discs].sort();
  if (!splits.length) return null;
  return (
    <Section
      title="Accuracy by discipline"
      right={
        <select value={cur} onChange={(e) => setSplit(e.target.value)} data-testid="disc-split">
          {splits.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      }
    >
      <div className="dt-scroll">
        <table className="grid small">
          <thead>
            <tr>
              <th>stage</th>
              {cols.map((d) => (
                <th key={d}>{d}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.stage}>
                <th>{r.stage}</th>
                {cols.map((d) => (
                  <td key={d}>
                    <Acc v={(((r.by_discipline || {})[cur]) || {})[d]} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </Section>
  );
}

function ItemPredictions({ row, predA, predB, a, b }) {
  if (row.a_raw !== undefined || row.b_raw !== undefined) {
    return (
      <div className="cols">
        <div>
          <h4>{a}: raw output</h4>
          <pre className="text">{row.a_raw ?? '—'}</pre>
        </div>
        <div>
          <h4>{b}: raw output</h4>
          <pre className="text">{row.b_raw ?? '—'}</pre>
        </div>
      </div>
    );
  }
  const cols = ['prediction_id', 'model', 'gold', 'predicted', 'parse_status', 'correct', 'raw_output'];
  return (
    <div>
      {[predA, predB].filter(Boolean).map((t) => (
        <DataTable key={t} table={t} title={t} where={[`item_id:${row.item_id}`]} columns={cols} renderDetail={(p) => <pre className="text">{p.raw_output}</pre>} />
      ))}
    </div>
  );
}

/** a: the first round-1 run without a label; b: the last targeted round (else the last run). */
function defaults(runs) {
  const a = (runs.find((r) => Number(r.round) === 1 && !r.label) || runs[0] || {}).stage || '';
  // the server names arms from the stage name: eval.r2 (targeted) has none, eval.r2.blind "blind"
  const targeted = runs.filter((r) => r.arm === 'targeted' || (!r.arm && !r.label && Number(r.round) > 1));
  const b = ((targeted.length ? targeted[targeted.length - 1] : runs[runs.length - 1]) || {}).stage || '';
  return [a, b];
}

function RoundDiff({ runs, stageByName }) {
  const names = runs.map((r) => r.stage);
  const [defA, defB] = defaults(runs);
  const [a, setA] = useState(defA);
  const [b, setB] = useState(defB);
  const [split, setSplit] = useState('');
  const [change, setChange] = useState('');
  const [open, setOpen] = useState(null);
  const res = useApi(a && b ? `/api/evaluation/diff${qs({ a, b, split })}` : null);
  const d = res.data;
  useEffect(() => setOpen(null), [a, b, split, change]);
  const items = ((d && d.items) || []).filter((it) => !change || it.change === change);
  const splits = splitsOf(runs);
  const sel = (value, set, testid) => (
    <select value={value} onChange={(e) => set(e.target.value)} data-testid={testid}>
      {names.map((n) => (
        <option key={n} value={n}>
          {n}
        </option>
      ))}
    </select>
  );
  const counts = (d && d.counts) || {};
  const predA = tableOf(stageByName[a], 'predictions');
  const predB = tableOf(stageByName[b], 'predictions');
  const cols = ['item_id', 'split', 'question_type', 'gold', 'a_predicted', 'b_predicted', 'change'];

  return (
    <Section title="Round diff">
      <div className="form-row">
        <label>a {sel(a, setA, 'diff-a')}</label>
        <label>b {sel(b, setB, 'diff-b')}</label>
        <label>
          split{' '}
          <select value={split} onChange={(e) => setSplit(e.target.value)} data-testid="diff-split">
            <option value="">all</option>
            {splits.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          change{' '}
          <select value={change} onChange={(e) => setChange(e.target.value)} data-testid="diff-change">
            <option value="">all</option>
            {CHANGES.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
      </div>
      <Status {...res} />
      {d && (
        <>
          <div className="stats">
            {CHANGES.map((c) => (
              <div key={c} className="stat">
                <span className={`stat-n change-${c}`} data-testid={`diff-${c.replace('_', '-')}`}>
                  {counts[c] ?? 0}
                </span>{' '}
                {c.replace('_', ' ')}
              </div>
            ))}
          </div>
          <div className="dt-scroll">
            <table className="grid" data-testid="diff-items">
              <thead>
                <tr>
                  {cols.map((c) => (
                    <th key={c}>{c}</th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {items.length === 0 && (
                  <tr>
                    <td colSpan={cols.length} className="muted">
                      no items
                    </td>
                  </tr>
                )}
                {items.map((it, i) => (
                  <Fragment key={`${it.item_id}-${i}`}>
                    <tr
                      className="clickable"
                      data-testid="diff-row"
                      onClick={(e) => !e.target.closest('a') && setOpen(open === i ? null : i)}
                    >
                      <td>
                        <NodeLink id={it.item_id} />
                      </td>
                      <td>{it.split}</td>
                      <td>{it.question_type}</td>
                      <td>
                        <Value value={it.gold} />
                      </td>
                      <td>
                        <Value value={it.a_predicted} />
                      </td>
                      <td>
                        <Value value={it.b_predicted} />
                      </td>
                      <td className={`change-${it.change}`}>{it.change}</td>
                    </tr>
                    {open === i && (
                      <tr className="detail">
                        <td colSpan={cols.length}>
                          <ItemPredictions row={it} predA={predA} predB={predB} a={a} b={b} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Section>
  );
}

function NodeAccuracy({ runs, stageByName, initial }) {
  const [stage, setStage] = useState(initial);
  const t = tableOf(stageByName[stage], 'node_accuracy');
  return (
    <Section
      title="Per-node accuracy"
      right={
        <select value={stage} onChange={(e) => setStage(e.target.value)} data-testid="na-run">
          {runs.map((r) => (
            <option key={r.stage} value={r.stage}>
              {r.stage}
            </option>
          ))}
        </select>
      }
    >
      {t ? (
        <DataTable table={t} columns={['node_kind', 'node_id', 'split', 'items', 'correct', 'accuracy']} facets={['split', 'node_kind']} />
      ) : (
        <NotBuilt what={`node accuracy of ${stage}`} />
      )}
    </Section>
  );
}

export default function Evaluation() {
  const res = useApi('/api/evaluation');
  const runs = useMemo(() => (res.data && res.data.runs) || [], [res.data]);
  const stageByName = useMemo(() => {
    const m = {};
    runs.forEach((r) => {
      m[r.stage] = r;
    });
    return m;
  }, [runs]);
  return (
    <div>
      <h2>Evaluation</h2>
      <Status {...res} />
      {res.data && runs.length === 0 && <NotBuilt what="evaluation runs" />}
      {runs.length > 0 && (
        <>
          <Leaderboard runs={runs} />
          <ByDiscipline runs={runs} />
          <RoundDiff key={runs.map((r) => r.stage).join(',')} runs={runs} stageByName={stageByName} />
          <NodeAccuracy
            key={`na-${runs.length}`}
            runs={runs}
            stageByName={stageByName}
            initial={defaults(runs)[1]}
          />
        </>
      )}
    </div>
  );
}
