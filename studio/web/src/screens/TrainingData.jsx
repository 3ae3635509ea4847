// #/training-data — SFT dataset versions, their rows and decontamination drops, and a diff.
import { useEffect, useState } from 'react';
import { qs, useApi, useTableNames } from '../api.js';
import DataTable from '../DataTable.jsx';
import { CountTable, KVTable, Loading, NotBuilt, Section, Status, Value, fmtNum, fmtPct } from '../common.jsx';

const datasetsOf = (v) => (Array.isArray(v.datasets) ? v.datasets.join(', ') : v.dataset || '');

function dropped(decon) {
  if (!decon) return 0;
  const d = decon.dropped;
  if (typeof d === 'number') return d;
  if (d && typeof d === 'object') return Object.values(d).reduce((a, b) => a + (typeof b === 'number' ? b : 0), 0);
  return 0;
}

function Diff({ versions }) {
  const tables = versions.map((v) => v.table);
  const [a, setA] = useState(tables[0] || '');
  const [b, setB] = useState(tables[tables.length - 1] || '');
  const res = useApi(a && b ? `/api/sft/diff${qs({ a, b })}` : null);
  const d = res.data;
  const sel = (value, set, testid) => (
    <select value={value} onChange={(e) => set(e.target.value)} data-testid={testid}>
      {tables.map((t) => (
        <option key={t} value={t}>
          {t}
        </option>
      ))}
    </select>
  );
  return (
    <Section title="Diff two versions">
      <div className="form-row">
        <label>a {sel(a, setA, 'sft-diff-a')}</label>
        <label>b {sel(b, setB, 'sft-diff-b')}</label>
      </div>
      <Status {...res} />
      {d && (
        <>
          <div className="stats">
            <div className="stat">
              <span className="stat-n ok" data-testid="sft-added">{fmtNum(d.added)}</span> added
            </div>
            <div className="stat">
              <span className="stat-n bad" data-testid="sft-dropped">{fmtNum(d.dropped)}</span> dropped
            </div>
            <div className="stat">
              <span className="stat-n" data-testid="sft-kept">{fmtNum(d.kept)}</span> kept
            </div>
          </div>
          <div className="cols">
            <div>
              <h4>Added by type</h4>
              <CountTable counts={d.added_by_type} keyLabel="task type" />
            </div>
            <div>
              <h4>Dropped by type</h4>
              <CountTable counts={d.dropped_by_type} keyLabel="task type" />
            </div>
          </div>
        </>
      )}
    </Section>
  );
}

export default function TrainingData() {
  const res = useApi('/api/sft');
  const { names } = useTableNames();
  const versions = (res.data && res.data.versions) || [];
  const [cur, setCur] = useState('');
  useEffect(() => {
    if (versions.length && !versions.some((v) => v.table === cur)) setCur(versions[0].table);
  }, [versions, cur]);
  const v = versions.find((x) => x.table === cur);
  const rejected = names
    ? versions.map((x) => x.rejected_table || `${x.table}.rejected`).filter((t) => names.has(t))
    : [];

  return (
    <div>
      <h2>Training data</h2>
      <Status {...res} />
      {res.data && versions.length === 0 && <NotBuilt what="SFT data" />}
      {versions.length > 0 && (
        <>
          <Section title="Versions">
            <table className="grid">
              <thead>
                <tr>
                  <th>table</th>
                  <th>stage</th>
                  <th>dataset</th>
                  <th className="num">rows</th>
                  <th>by type</th>
                  <th>coverage</th>
                  <th className="num">decontam. drops</th>
                </tr>
              </thead>
              <tbody>
                {versions.map((x) => (
                  <tr
                    key={x.table}
                    className={x.table === cur ? 'clickable selected' : 'clickable'}
                    data-testid={`sft-version-${x.table}`}
                    onClick={() => setCur(x.table)}
                  >
                    <td>{x.table}</td>
                    <td>{x.stage}</td>
                    <td>{datasetsOf(x) || '—'}</td>
                    <td className="num">{fmtNum(x.rows)}</td>
                    <td>
                      {Object.entries(x.by_type || {}).map(([k, n]) => (
                        <span key={k} className="chip">
                          {k} {n}
                        </span>
                      ))}
                    </td>
                    <td>
                      {Object.entries(x.coverage || {}).map(([k, n]) => (
                        <span key={k} className="chip">
                          {k} {typeof n === 'number' && n <= 1 ? fmtPct(n) : fmtNum(n)}
                        </span>
                      ))}
                    </td>
                    <td className="num">{fmtNum(dropped(x.decontamination))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
          <Section
            title="Samples"
            right={
              <label>
                version{' '}
                <select value={cur} onChange={(e) => setCur(e.target.value)} data-testid="sft-version">
                  {versions.map((x) => (
                    <option key={x.table} value={x.table}>
                      {x.table}
                      {datasetsOf(x) ? ` (${datasetsOf(x)})` : ''}
                    </option>
                  ))}
                </select>
              </label>
            }
          >
            {v && names && !names.has(v.table) && <NotBuilt what={v.table} />}
            {v && names && names.has(v.table) && (
              <DataTable
                table={v.table}
                columns={['sample_id', 'dataset', 'task_type', 'generator', 'prompt', 'response']}
                extraColumns={['statement_ids', 'concept_ids', 'discipline_code']}
                facets={['task_type', 'generator', 'dataset']}
                renderDetail={(r) => (
                  <div className="detail-box">
                    <div className="small">
                      statements <Value value={r.statement_ids} /> · concepts <Value value={r.concept_ids} /> · discipline{' '}
                      <Value value={r.discipline_code} />
                    </div>
                    <h4>prompt</h4>
                    <pre className="text">{r.prompt}</pre>
                    <h4>response</h4>
                    <pre className="text">{r.response}</pre>
                  </div>
                )}
              />
            )}
            {!names && <Loading />}
          </Section>
          {v && v.decontamination && (
            <Section title={`Decontamination — ${v.table}`}>
              <KVTable obj={v.decontamination} />
            </Section>
          )}
          {rejected.map((t) => (
            <Section key={t} title={`Decontamination drops — ${t}`}>
              <DataTable table={t} columns={['reason', 'detail', 'source_id', 'duplicate_of', 'preview']} facets={['reason']} />
            </Section>
          ))}
          {versions.length > 1 && <Diff versions={versions} />}
        </>
      )}
    </div>
  );
}
