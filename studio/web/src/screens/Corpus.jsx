// #/corpus — documents, chunks, their rejects, and the spec report.
import { useTableNames, useStageReport } from '../api.js';
import DataTable from '../DataTable.jsx';
import { CountTable, ErrorBox, KVTable, Loading, MatrixTable, NotBuilt, Section } from '../common.jsx';

const REJECT_COLUMNS = ['reason', 'detail', 'source_path', 'duplicate_of', 'preview'];

function SpecReport() {
  const { report, error, loading, built } = useStageReport('spec');
  if (error) return <ErrorBox error={error} />;
  if (loading && !report) return <Loading what="spec report" />;
  if (!built || !report) return <NotBuilt what="spec report" />;
  return (
    <div className="cols">
      <div>
        <h4>Dedup groups</h4>
        <MatrixTable data={report.dedup || {}} rowLabel="table" />
      </div>
      <div>
        <h4>Disciplines</h4>
        <CountTable counts={report.disciplines} keyLabel="discipline" countLabel="documents" />
      </div>
      <div>
        <h4>Tokens per chunk</h4>
        <KVTable obj={report.tokens} />
      </div>
    </div>
  );
}

export default function Corpus() {
  const { names, error } = useTableNames();
  const has = (t) => names && names.has(t);
  const textDetail = (row) => <pre className="text">{row.text}</pre>;
  return (
    <div>
      <h2>Corpus</h2>
      <ErrorBox error={error} />
      <Section title="Spec report">
        <SpecReport />
      </Section>
      {!names && !error && <Loading />}
      {names && (
        <>
          <Section title="Documents">
            {has('documents') ? (
              <DataTable
                table="documents"
                columns={['doc_id', 'title', 'format', 'language', 'discipline', 'n_words', 'source_path']}
                extraColumns={['text']}
                facets={['discipline', 'language', 'format']}
                renderDetail={textDetail}
              />
            ) : (
              <NotBuilt what="documents" />
            )}
          </Section>
          <Section title="Chunks">
            {has('chunks') ? (
              <DataTable
                table="chunks"
                columns={['chunk_id', 'doc_id', 'title', 'chunk_index', 'n_tokens', 'discipline', 'text']}
                facets={['discipline']}
                renderDetail={textDetail}
              />
            ) : (
              <NotBuilt what="chunks" />
            )}
          </Section>
          {['documents.rejected', 'chunks.rejected'].filter(has).map((t) => (
            <Section key={t} title={`Rejected: ${t}`}>
              <DataTable table={t} columns={REJECT_COLUMNS} facets={['reason']} />
            </Section>
          ))}
        </>
      )}
    </div>
  );
}
