// #/diagnosis — per debug run: failure labels, weakest nodes, diagnoses, node failures, patches.
import { useApi } from '../api.js';
import DataTable from '../DataTable.jsx';
import { CountTable, NodeLink, NotBuilt, Section, Status, fmtNum, fmtPct, pretty } from '../common.jsx';

const failRate = (n) => (typeof n.failed === 'number' && n.items ? n.failed / n.items : null);

/** Failure rate (1 − accuracy) per split of a node-accuracy record {split: {items, correct, accuracy}}. */
function splitFailures(acc) {
  return Object.entries(acc || {}).map(([split, a]) => ({
    split,
    rate: typeof a.accuracy === 'number' ? 1 - a.accuracy : null,
    items: a.items,
  }));
}

function Rates({ acc }) {
  const rows = splitFailures(acc);
  if (rows.length === 0) return <span className="muted">—</span>;
  return rows.map((r) => (
    <span key={r.split} className="chip">
      {r.split} {fmtPct(r.rate)}
      <span className="muted"> n={r.items}</span>
    </span>
  ));
}

/** The debug round's weakest nodes with their failure rates in this round's eval (before) and
 * the next round's (after). */
function Weakest({ nodes }) {
  if (!nodes || nodes.length === 0) return <div className="muted">none</div>;
  return (
    <table className="grid small" data-testid="weakest-nodes">
      <thead>
        <tr>
          <th>#</th>
          <th>node</th>
          <th>kind</th>
          <th className="num">failed / items</th>
          <th className="num">failure rate</th>
          <th>before (failure rate)</th>
          <th>after (failure rate)</th>
        </tr>
      </thead>
      <tbody>
        {nodes.map((n, i) => (
          <tr key={`${n.node_id}-${i}`}>
            <td>{n.rank ?? i + 1}</td>
            <td>
              <NodeLink id={n.node_id} />
              {n.label ? <span className="muted"> {n.label}</span> : null}
            </td>
            <td>{n.node_kind}</td>
            <td className="num">
              {fmtNum(n.failed)} / {fmtNum(n.items)}
            </td>
            <td className="num">{fmtPct(failRate(n))}</td>
            <td>
              <Rates acc={n.before} />
            </td>
            <td>
              <Rates acc={n.after} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The run's table named `prefix` (or `prefix.<round>`), from its {tables: {name: rows}}. */
function tableFor(stage, prefix) {
  if (stage && stage.tables) {
    const t = Object.keys(stage.tables).find((x) => x === prefix || x.startsWith(`${prefix}.`));
    if (t) return t;
  }
  return null;
}

function Run({ run }) {
  const report = run.report || {};
  const diagnoses = tableFor(run, 'diagnoses');
  const failures = tableFor(run, 'node_failures');
  const patches = tableFor(run, 'patches');
  const weakest = run.weakest || run.weakest_before || report.weakest_nodes;
  return (
    <>
      <Section title={`${run.stage}${run.round !== undefined && run.round !== null ? ` — round ${run.round}` : ''}`}>
        <div className="stats">
          <div className="stat">
            <span className="stat-n bad" data-testid="failed-count">
              {fmtNum(report.failed ?? run.failed)}
            </span>{' '}
            failed items
          </div>
          {report.dev_items !== undefined && (
            <div className="stat">
              <span className="stat-n">{fmtNum(report.dev_items)}</span> dev items
            </div>
          )}
          {report.dataset && (
            <div className="stat">
              → <span className="stat-n">{report.dataset}</span>
            </div>
          )}
        </div>
        <div className="cols">
          <div>
            <h4>Labels</h4>
            <CountTable counts={run.labels || report.labels} keyLabel="label" countLabel="items" />
          </div>
        </div>
        <h4>Weakest nodes</h4>
        <Weakest nodes={weakest} />
      </Section>
      <Section title="Diagnoses">
        {diagnoses ? (
          <DataTable
            table={diagnoses}
            columns={['item_id', 'label', 'node_ids', 'confidence', 'discipline_code']}
            extraColumns={['evidence_json']}
            facets={['label']}
            renderDetail={(r) => <pre className="json" data-testid="evidence">{pretty(r.evidence_json)}</pre>}
          />
        ) : (
          <NotBuilt what="diagnoses" />
        )}
      </Section>
      <Section title="Node failures">
        {failures ? <DataTable table={failures} facets={['node_kind']} /> : <NotBuilt what="node_failures" />}
      </Section>
      <Section title="Patches">
        {patches ? (
          <DataTable
            table={patches}
            columns={['patch_id', 'sample_id', 'label', 'round', 'failed_item_ids', 'node_ids']}
            facets={['label']}
          />
        ) : (
          <NotBuilt what="patches" />
        )}
      </Section>
    </>
  );
}

export default function Diagnosis() {
  const res = useApi('/api/diagnosis');
  const runs = (res.data && res.data.runs) || [];
  return (
    <div>
      <h2>Diagnosis</h2>
      <Status {...res} />
      {res.data && runs.length === 0 && <NotBuilt what="debug runs" />}
      {runs.map((r) => (
        <Run key={r.stage} run={r} />
      ))}
    </div>
  );
}
