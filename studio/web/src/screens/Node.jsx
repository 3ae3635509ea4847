// #/node/:id — one knowledge/benchmark/training node: fields, neighbourhood, source, links.
import { useNavigate, useParams } from 'react-router-dom';
import { useApi } from '../api.js';
import Graph from '../Graph.jsx';
import { NodeLink, Section, Status, Value, fmtPct, isNodeId, pretty, truncate } from '../common.jsx';

export const KIND_COLORS = {
  chain: '#7b61c4',
  statement: '#2f6fde',
  stmt: '#2f6fde',
  concept: '#2e9d5b',
  chunk: '#e8833a',
  doc: '#b35c1e',
  document: '#b35c1e',
  item: '#d64545',
  sample: '#1f9fb4',
  sft: '#1f9fb4',
  patch: '#c2388f',
};

const kindColor = (k) => KIND_COLORS[k] || '#9aa5b1';

/** `text` with each highlight range marked; ranges are sorted and overlaps clipped. */
export function Highlighted({ text, highlights }) {
  const n = text.length;
  const ranges = (highlights || [])
    .filter((h) => Number.isFinite(h.start) && Number.isFinite(h.end))
    .map((h) => ({ ...h, start: Math.max(0, h.start), end: Math.min(n, h.end) }))
    .sort((a, b) => a.start - b.start || a.end - b.end);
  const parts = [];
  let pos = 0;
  ranges.forEach((h, i) => {
    const s = Math.max(h.start, pos);
    if (h.end <= s) return;
    if (s > pos) parts.push(text.slice(pos, s));
    parts.push(
      <mark key={`m${i}`} data-testid="quote" title={h.id || ''} data-id={h.id || undefined}>
        {text.slice(s, h.end)}
      </mark>,
    );
    pos = h.end;
  });
  if (pos < n) parts.push(text.slice(pos));
  return (
    <pre className="text source" data-testid="source-chunk">
      {parts}
    </pre>
  );
}

function Fields({ row }) {
  if (!row) return null;
  return (
    <dl className="fields">
      {Object.entries(row).map(([k, v]) => (
        <div key={k} className="field">
          <dt>{k}</dt>
          <dd>
            {typeof v === 'string' && /_json$/.test(k) ? (
              <pre className="json">{pretty(v)}</pre>
            ) : typeof v === 'string' && v.length > 160 && !isNodeId(v) ? (
              <div className="longtext">{v}</div>
            ) : Array.isArray(v) && v.length && !v.every(isNodeId) ? (
              <ul className="plain">
                {v.map((x, i) => (
                  <li key={i}>{typeof x === 'string' ? x : JSON.stringify(x)}</li>
                ))}
              </ul>
            ) : Array.isArray(v) ? (
              <Value value={v} />
            ) : v && typeof v === 'object' ? (
              <pre className="json">{JSON.stringify(v, null, 2)}</pre>
            ) : (
              <Value value={v} max={400} />
            )}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function LinkedList({ title, rows, columns, empty }) {
  if (!rows || rows.length === 0) return empty ? <Section title={title}><div className="muted">{empty}</div></Section> : null;
  return (
    <Section title={`${title} (${rows.length})`}>
      <table className="grid" data-testid={`node-${title.toLowerCase()}`}>
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {columns.map((c) => (
                <td key={c}>
                  {c === 'accuracy' ? fmtPct(r[c]) : <Value value={r[c]} max={120} />}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </Section>
  );
}

const EXTRA_LINKS = 60;

/** The server's neighbours plus the items, samples and patches that point at this node
 * (shown in the lists below too), so a node only reached from those still has a graph. */
function allNeighbours(node) {
  const out = [...(node.neighbours || [])];
  const seen = new Set(out.map((n) => n.id));
  const add = (id, kind, relation, label) => {
    if (!id || id === node.id || seen.has(id) || out.length - (node.neighbours || []).length >= EXTRA_LINKS) return;
    seen.add(id);
    out.push({ id, kind, relation, direction: 'in', label });
  };
  (node.items || []).forEach((r) => add(r.item_id, 'item', 'tests', r.question));
  (node.patches || []).forEach((r) => add(r.patch_id, 'patch', 'patches', r.label));
  (node.samples || []).forEach((r) => add(r.sample_id, 'sft', 'trains', r.prompt));
  return out;
}

function Neighbourhood({ node }) {
  const navigate = useNavigate();
  const neighbours = allNeighbours(node);
  const seen = new Set([node.id]);
  const elements = [
    {
      data: { id: node.id, label: truncate(String(node.label || node.id), 40), color: kindColor(node.kind) },
      classes: 'centre',
    },
  ];
  neighbours.forEach((nb, i) => {
    if (!nb.id) return;
    if (!seen.has(nb.id)) {
      seen.add(nb.id);
      elements.push({ data: { id: nb.id, label: truncate(String(nb.label || nb.id), 36), color: kindColor(nb.kind) } });
    }
    const out = nb.direction !== 'in';
    elements.push({
      data: {
        id: `edge-${i}`,
        source: out ? node.id : nb.id,
        target: out ? nb.id : node.id,
        label: nb.relation || '',
      },
    });
  });
  return (
    <Section title={`Neighbourhood (${neighbours.length})`}>
      {neighbours.length === 0 && <div className="muted">No linked nodes.</div>}
      <Graph
        testid="node-graph"
        elements={elements}
        elementsKey={node.id + neighbours.length}
        height={neighbours.length ? Math.min(520, 260 + neighbours.length * 8) : 120}
        layout={{
          name: 'concentric',
          concentric: (n) => (n.hasClass('centre') ? 2 : 1),
          levelWidth: () => 1,
          minNodeSpacing: 40,
          padding: 20,
        }}
        onNodeTap={(id) => id !== node.id && navigate(`/node/${encodeURIComponent(id)}`)}
      />
      {neighbours.length > 0 && (
        <details className="nb-list">
          <summary>as a list</summary>
          <table className="grid small">
            <tbody>
              {neighbours.map((nb, i) => (
                <tr key={`${nb.id}-${i}`}>
                  <td>{nb.direction === 'in' ? '←' : '→'}</td>
                  <td>{nb.relation}</td>
                  <td>{nb.kind}</td>
                  <td>
                    <NodeLink id={nb.id} />
                  </td>
                  <td>{truncate(String(nb.label || ''), 100)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </details>
      )}
    </Section>
  );
}

export default function Node() {
  const { id } = useParams();
  const res = useApi(`/api/node/${encodeURIComponent(id)}`);
  const node = res.data;
  return (
    <div data-testid="node-page">
      <h2>
        {node ? <span className={`kind kind-${node.kind}`}>{node.kind}</span> : null} <span className="mono">{id}</span>
      </h2>
      <Status {...res} />
      {node && (
        <>
          <Section title={`Fields${node.table ? ` — ${node.table}` : ''}`}>
            <Fields row={node.row} />
          </Section>
          <Neighbourhood node={node} />
          {node.chunk && (
            <Section
              title={
                <>
                  Source: <NodeLink id={node.chunk.chunk_id} />
                  {node.chunk.doc_id && (
                    <>
                      {' '}
                      in <NodeLink id={node.chunk.doc_id} />
                    </>
                  )}
                  {node.chunk.title ? ` — ${node.chunk.title}` : ''}
                </>
              }
            >
              <Highlighted text={String(node.chunk.text || '')} highlights={node.chunk.highlights} />
            </Section>
          )}
          {node.sample && (
            <Section title={<>Patch sample: <NodeLink id={node.sample.sample_id} /> <span className="muted">({node.sample.table})</span></>}>
              <div className="muted small">
                {node.sample.dataset} · {node.sample.task_type} · {node.sample.generator}
              </div>
              <h4>prompt</h4>
              <pre className="text">{node.sample.prompt}</pre>
              <h4>response</h4>
              <pre className="text">{node.sample.response}</pre>
            </Section>
          )}
          {Array.isArray(node.nodes) && node.nodes.length > 0 && (
            <Section title="Patched nodes">
              <table className="grid" data-testid="patch-nodes">
                <thead>
                  <tr>
                    <th>node</th>
                    <th>kind</th>
                    <th>text</th>
                    <th>quote</th>
                  </tr>
                </thead>
                <tbody>
                  {node.nodes.map((n, i) => (
                    <tr key={`${n.id}-${i}`}>
                      <td>
                        <NodeLink id={n.id} />
                      </td>
                      <td>{n.kind}</td>
                      <td className="longtext">{n.text}</td>
                      <td className="longtext">{n.quote ? <mark>{n.quote}</mark> : <span className="muted">—</span>}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Section>
          )}
          {node.evidence && (
            <Section title="Evidence">
              <pre className="json">{JSON.stringify(node.evidence, null, 2)}</pre>
            </Section>
          )}
          <LinkedList title="Items" rows={node.items} columns={['item_id', 'split', 'question_type', 'question']} />
          <LinkedList
            title="Predictions"
            rows={node.predictions}
            columns={['table', 'prediction_id', 'predicted', 'gold', 'correct', 'parse_status', 'raw_output']}
          />
          <LinkedList title="Samples" rows={node.samples} columns={['sample_id', 'table', 'dataset', 'task_type', 'prompt']} />
          <LinkedList title="Patches" rows={node.patches} columns={['patch_id', 'label', 'round']} />
          <LinkedList
            title="Accuracy"
            rows={node.accuracy}
            columns={['table', 'split', 'items', 'correct', 'accuracy']}
          />
        </>
      )}
    </div>
  );
}
