// Small shared pieces: id links, cell rendering, status boxes, key/value and count tables.
import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';

export const NODE_ID = /^(chain|stmt|concept|chunk|doc|item|sft|patch|pred|diag)-[0-9A-Za-z_]+$/;

export const isNodeId = (v) => typeof v === 'string' && NODE_ID.test(v);

export function NodeLink({ id, children, title }) {
  return (
    <Link className="idlink" to={`/node/${encodeURIComponent(id)}`} title={title}>
      {children ?? id}
    </Link>
  );
}

export function truncate(s, n = 80) {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** A node link that reads as its label (`labels`: {id: label}) when one is known; items keep
 * their id (their label, the question, is long and alike across items) with it as a tooltip. */
function LabelledLink({ id, labels }) {
  const label = labels && labels[id];
  if (label && id.startsWith('item-')) return <NodeLink id={id} title={truncate(String(label), 300)} />;
  return label && label !== id ? (
    <NodeLink id={id} title={id}>
      {truncate(String(label), 40)}
    </NodeLink>
  ) : (
    <NodeLink id={id} />
  );
}

/** One table cell's value: ids become node links (shown by label when `labels` has one),
 * lists are joined, long text is clipped. */
export function Value({ value, max = 80, labels }) {
  if (value === null || value === undefined) return <span className="muted">—</span>;
  if (typeof value === 'boolean') return <span className={value ? 'ok' : 'bad'}>{String(value)}</span>;
  if (typeof value === 'number') return <span className="num">{fmtNum(value)}</span>;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span className="muted">[]</span>;
    if (value.every(isNodeId)) {
      return (
        <span className="idlist">
          {value.slice(0, 6).map((v, i) => (
            <span key={`${i}-${v}`}>
              {i > 0 && ', '}
              <LabelledLink id={v} labels={labels} />
            </span>
          ))}
          {value.length > 6 && <span className="muted"> +{value.length - 6}</span>}
        </span>
      );
    }
    const joined = value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');
    return <span title={joined.length > max ? joined.slice(0, 2000) : undefined}>{truncate(joined, max)}</span>;
  }
  if (typeof value === 'object') {
    const s = JSON.stringify(value);
    return <span title={s.slice(0, 2000)}>{truncate(s, max)}</span>;
  }
  const s = String(value);
  if (isNodeId(s)) return <LabelledLink id={s} labels={labels} />;
  return <span title={s.length > max ? s.slice(0, 2000) : undefined}>{truncate(s, max)}</span>;
}

export function fmtNum(x, digits = 4) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (typeof x !== 'number') return String(x);
  if (Number.isInteger(x)) return x.toLocaleString('en-US');
  return String(Number(x.toPrecision(digits)));
}

export function fmtPct(x) {
  return typeof x === 'number' ? `${(100 * x).toFixed(1)}%` : '—';
}

export function fmtCI(ci) {
  return Array.isArray(ci) && ci.length === 2 ? `[${fmtPct(ci[0])}, ${fmtPct(ci[1])}]` : '';
}

export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(typeof t === 'number' ? t * 1000 : t);
  if (Number.isNaN(d.getTime())) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z').replace(/Z$/, ' UTC');
}

export function fmtSeconds(s) {
  if (typeof s !== 'number') return '—';
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(2)} h`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return (
    <div className="error" data-testid="error" role="alert">
      {error.message || String(error)}
    </div>
  );
}

export function Loading({ what = '' }) {
  return <div className="loading">Loading{what ? ` ${what}` : ''}…</div>;
}

export function NotBuilt({ what }) {
  return <div className="notbuilt">{what ? `${what}: ` : ''}not built yet.</div>;
}

/** The usual head of a screen's data: error box, loading line, or nothing. */
export function Status({ error, loading, data }) {
  if (error) return <ErrorBox error={error} />;
  if (loading && !data) return <Loading />;
  return null;
}

export function Section({ title, children, right }) {
  return (
    <section className="card">
      {(title || right) && (
        <div className="card-head">
          <h3>{title}</h3>
          {right}
        </div>
      )}
      {children}
    </section>
  );
}

const isPlain = (v) => v !== null && typeof v === 'object';

/** Key/value table; nested objects and lists are pretty-printed JSON. */
export function KVTable({ obj, testid }) {
  if (!obj || typeof obj !== 'object' || Object.keys(obj).length === 0) {
    return <div className="muted">—</div>;
  }
  return (
    <table className="kv" data-testid={testid}>
      <tbody>
        {Object.entries(obj).map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>
              {isPlain(v) ? <pre className="json">{JSON.stringify(v, null, 2)}</pre> : <Value value={v} max={200} />}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** {key: count} as a two-column table, biggest first, with a bar. */
export function CountTable({ counts, keyLabel = 'value', countLabel = 'count', bars = true }) {
  const entries = Object.entries(counts || {}).filter(([, v]) => typeof v === 'number');
  if (entries.length === 0) return <div className="muted">none</div>;
  entries.sort((a, b) => b[1] - a[1]);
  const max = Math.max(...entries.map(([, v]) => v), 1);
  return (
    <table className="grid small">
      <thead>
        <tr>
          <th>{keyLabel}</th>
          <th className="num">{countLabel}</th>
          {bars && <th />}
        </tr>
      </thead>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <td>{isNodeId(k) ? <NodeLink id={k} /> : k}</td>
            <td className="num">{fmtNum(v)}</td>
            {bars && (
              <td className="barcell">
                <div className="bar" style={{ width: `${(100 * v) / max}%` }} />
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** {row: {col: value}} as a matrix table. */
export function MatrixTable({ data, rowLabel = '', render = (v) => <Value value={v} /> }) {
  const rows = Object.keys(data || {});
  if (rows.length === 0) return <div className="muted">none</div>;
  const cols = [];
  rows.forEach((r) => {
    Object.keys(isPlain(data[r]) ? data[r] : {}).forEach((c) => !cols.includes(c) && cols.push(c));
  });
  return (
    <table className="grid small">
      <thead>
        <tr>
          <th>{rowLabel}</th>
          {cols.map((c) => (
            <th key={c}>{c}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r}>
            <th>{r}</th>
            {cols.map((c) => (
              <td key={c}>{data[r] && data[r][c] !== undefined ? render(data[r][c]) : <span className="muted">—</span>}</td>
            ))}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A list of {key, label} tabs; returns [current, element]. */
export function useTabs(tabs, initial) {
  const [cur, setCur] = useState(initial ?? (tabs[0] && tabs[0].key));
  useEffect(() => {
    if (tabs.length && !tabs.some((t) => t.key === cur)) setCur(tabs[0].key);
  }, [tabs, cur]);
  const el = (
    <div className="tabs" role="tablist">
      {tabs.map((t) => (
        <button
          key={t.key}
          type="button"
          role="tab"
          aria-selected={t.key === cur}
          className={t.key === cur ? 'tab active' : 'tab'}
          data-testid={`tab-${t.key}`}
          onClick={() => setCur(t.key)}
        >
          {t.label ?? t.key}
        </button>
      ))}
    </div>
  );
  return [cur, el];
}

/** A value that follows `value` after `ms` of quiet. */
export function useDebounced(value, ms = 300) {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

export function pretty(s) {
  if (typeof s !== 'string') return JSON.stringify(s, null, 2);
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}
