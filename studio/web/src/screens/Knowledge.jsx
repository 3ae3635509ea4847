// #/knowledge — search over the knowledge graph, and the concept/statement/chain tables.
import { useState } from 'react';
import { useApi, useTableNames, qs } from '../api.js';
import DataTable from '../DataTable.jsx';
import { ErrorBox, Loading, NodeLink, NotBuilt, Section, useDebounced, useTabs } from '../common.jsx';

const TABS = [
  { key: 'concepts', label: 'Concepts' },
  { key: 'statements', label: 'Statements' },
  { key: 'chains', label: 'Chains' },
];

const TABLES = {
  concepts: { columns: ['concept_id', 'term', 'type', 'definition', 'aliases', 'statement_ids', 'discipline_codes'], facets: ['type'] },
  statements: {
    columns: ['statement_id', 'chain_id', 'step_index', 'subject', 'predicate', 'object', 'source_quote', 'grounding', 'concept_ids'],
    facets: ['chain_id', 'discipline_code', 'grounding'],
  },
  chains: {
    columns: ['chain_id', 'process_name', 'discipline_code', 'domain_context', 'narrative_summary', 'steps', 'statement_ids'],
    facets: ['discipline_code'],
  },
};

function Search() {
  const [input, setInput] = useState('');
  const q = useDebounced(input.trim(), 300);
  const res = useApi(q ? `/api/search${qs({ q, limit: 30 })}` : null);
  const results = (res.data && res.data.results) || [];
  return (
    <Section title="Search concepts, statements, chains">
      <input
        type="search"
        className="wide"
        placeholder="e.g. photosynthesis"
        data-testid="kc-search"
        value={input}
        onChange={(e) => setInput(e.target.value)}
      />
      <ErrorBox error={res.error} />
      {res.loading && <Loading />}
      {q && res.data && results.length === 0 && <div className="muted">No matches.</div>}
      <ul className="results">
        {results.map((r, i) => (
          <li key={`${r.id}-${i}`} data-testid="search-result">
            <span className={`kind kind-${r.kind}`}>{r.kind}</span> <NodeLink id={r.id}>{r.label || r.id}</NodeLink>{' '}
            <span className="mono muted small">{r.id}</span>
            {r.snippet && <div className="snippet">{r.snippet}</div>}
          </li>
        ))}
      </ul>
    </Section>
  );
}

export default function Knowledge() {
  const { names, error } = useTableNames();
  const [tab, tabs] = useTabs(TABS);
  return (
    <div>
      <h2>Knowledge</h2>
      <Search />
      <ErrorBox error={error} />
      <Section title="Tables">
        {tabs}
        {!names && !error && <Loading />}
        {names &&
          (names.has(tab) ? <DataTable table={tab} {...TABLES[tab]} /> : <NotBuilt what={tab} />)}
      </Section>
    </div>
  );
}
