// #/benchmark — the bench report (splits, types, disciplines, validity suite) and the items.
import { useApi, useTableNames } from '../api.js';
import DataTable from '../DataTable.jsx';
import { CountTable, ErrorBox, KVTable, MatrixTable, NotBuilt, Section, Status, fmtCI, fmtPct } from '../common.jsx';

function Validity({ validity }) {
  if (!validity || !validity.types) return <div className="muted">No validity suite in the report.</div>;
  const types = Object.entries(validity.types);
  return (
    <>
      <div className="muted small">
        mode <strong>{validity.mode ?? '—'}</strong> · margin <strong>{validity.margin ?? '—'}</strong>
      </div>
      <table className="grid" data-testid="validity-table">
        <thead>
          <tr>
            <th>question type</th>
            <th className="num">n</th>
            <th>prior accuracy (95% CI)</th>
            <th>best solver</th>
            <th className="num">best − prior</th>
            <th>form-solvable</th>
          </tr>
        </thead>
        <tbody>
          {types.map(([t, v]) => {
            const best = v.solvers && v.best_solver ? v.solvers[v.best_solver] : null;
            return (
              <tr key={t} className={v.form_solvable ? 'warn' : undefined}>
                <td>{t}</td>
                <td className="num">{v.n ?? '—'}</td>
                <td>
                  {fmtPct(v.prior && v.prior.accuracy)} <span className="muted">{fmtCI(v.prior && (v.prior.ci95 || v.prior.ci))}</span>
                </td>
                <td>
                  {v.best_solver ?? '—'}
                  {best ? <span className="muted"> {fmtPct(best.accuracy)}</span> : null}
                </td>
                <td className="num">{typeof v.best_minus_prior === 'number' ? fmtPct(v.best_minus_prior) : '—'}</td>
                <td className={v.form_solvable ? 'bad' : 'ok'}>{String(!!v.form_solvable)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {validity.form_solvable_items && Object.keys(validity.form_solvable_items).length > 0 && (
        <>
          <h4>Form-solvable items</h4>
          <KVTable obj={validity.form_solvable_items} />
        </>
      )}
    </>
  );
}

export default function Benchmark() {
  const res = useApi('/api/benchmark');
  const { names } = useTableNames();
  const b = res.data;
  const rejected = b && b.rejected;
  return (
    <div>
      <h2>Benchmark</h2>
      {res.error && (res.error.status === 404 ? <NotBuilt what="benchmark" /> : <ErrorBox error={res.error} />)}
      {!res.error && <Status {...res} />}
      {b && b.built === false && <NotBuilt what="benchmark (stage bench)" />}
      {b && b.built !== false && (
        <>
          <div className="cols">
            <Section title="Splits">
              <CountTable counts={b.splits} keyLabel="split" countLabel="items" />
            </Section>
            <Section title="By question type">
              <CountTable counts={b.by_type} keyLabel="type" countLabel="items" />
            </Section>
            <Section title="By discipline × split">
              <MatrixTable data={b.by_discipline} rowLabel="discipline" />
            </Section>
            {b.by_level && (
              <Section title="By level">
                <CountTable counts={b.by_level} keyLabel="level" countLabel="items" />
              </Section>
            )}
          </div>
          <Section title="Validity suite">
            <Validity validity={b.validity} />
          </Section>
          {rejected && typeof rejected === 'object' && Object.keys(rejected).length > 0 && (
            <Section title="Rejected (report)">
              <MatrixTable data={rejected} rowLabel="table" />
            </Section>
          )}
        </>
      )}
      {names && (
        <>
          <Section title="Items">
            {names.has('bench_items') ? (
              <DataTable
                table="bench_items"
                columns={['item_id', 'split', 'question_type', 'discipline_code', 'question', 'answer', 'chain_id']}
                extraColumns={['options', 'explanation']}
                facets={['split', 'question_type', 'discipline_code', 'generator']}
                renderDetail={(r) => (
                  <div className="detail-box">
                    <div className="longtext">{r.question}</div>
                    {Array.isArray(r.options) && (
                      <ol type="A">
                        {r.options.map((o, i) => (
                          <li key={i}>{o}</li>
                        ))}
                      </ol>
                    )}
                    <div>
                      answer <strong>{r.answer}</strong>
                    </div>
                    {r.explanation && <div className="muted">{r.explanation}</div>}
                  </div>
                )}
              />
            ) : (
              <NotBuilt what="bench_items" />
            )}
          </Section>
          {names.has('bench_items.rejected') && (
            <Section title="Rejected items">
              <DataTable
                table="bench_items.rejected"
                columns={['reason', 'detail', 'source_id', 'duplicate_of', 'preview']}
                facets={['reason']}
              />
            </Section>
          )}
        </>
      )}
    </div>
  );
}
