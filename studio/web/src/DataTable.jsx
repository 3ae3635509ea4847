// A server-paged table over GET /api/tables/{name}: search, sort, facets, paging.
import { Fragment, useEffect, useMemo, useState } from 'react';
import { getJSON, getTables } from './api.js';
import { ErrorBox, NotBuilt, Value, useDebounced } from './common.jsx';

const LIMIT = 25;

function Facet({ table, column, where, value, onChange }) {
  const [values, setValues] = useState(null);
  const whereKey = where.join('\u0000');
  useEffect(() => {
    let alive = true;
    getJSON(`/api/tables/${encodeURIComponent(table)}/facet`, { column, where }).then(
      (r) => alive && setValues(r.values || []),
      () => alive && setValues(null), // no such column here: no dropdown
    );
    return () => {
      alive = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [table, column, whereKey]);
  if (!values) return null;
  return (
    <label className="facet">
      {column}
      <select data-testid={`facet-${column}`} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">all</option>
        {values
          .filter((v) => v.value !== null && v.value !== undefined)
          .map((v) => (
            <option key={String(v.value)} value={String(v.value)}>
              {String(v.value)} ({v.count})
            </option>
          ))}
      </select>
    </label>
  );
}

/**
 * Props: table, where (["col:value"]), columns (shown; asked of the server together with
 * extraColumns), facets (column names), onRowClick(row), renderDetail(row) (a row expanded
 * under the clicked one), title.
 */
/** Remounted per table and fixed filter, so paging, search and facets start afresh. */
export default function DataTable(props) {
  const where = props.where || [];
  return <Table key={`${props.table}\u0000${where.join('\u0000')}`} {...props} where={where} />;
}

function Table({
  table,
  where = [],
  columns,
  extraColumns = [],
  facets = [],
  onRowClick,
  renderDetail,
  title,
}) {
  const [input, setInput] = useState('');
  const q = useDebounced(input, 300);
  const [sort, setSort] = useState(null);
  const [desc, setDesc] = useState(false);
  const [offset, setOffset] = useState(0);
  const [chosen, setChosen] = useState({});
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [loading, setLoading] = useState(true);
  const [open, setOpen] = useState(null);
  // the table's column names: undefined while asked, null when the table is not built
  const [schema, setSchema] = useState(undefined);

  useEffect(() => {
    let alive = true;
    getTables().then(
      (ts) => {
        const t = ts.find((x) => x.name === table);
        if (alive) setSchema(t ? t.columns.map((c) => c.name) : null);
      },
      (e) => {
        if (!alive) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      alive = false;
    };
  }, [table]);
  const built = !!schema && schema.length > 0; // a committed table with no rows may have no columns

  const whereKey = where.join('\u0000');
  const fixedWhere = useMemo(() => where, [whereKey]); // eslint-disable-line react-hooks/exhaustive-deps
  const allWhere = useMemo(
    () => [...fixedWhere, ...Object.entries(chosen).filter(([, v]) => v !== '').map(([c, v]) => `${c}:${v}`)],
    [fixedWhere, chosen],
  );
  const has = (c) => !schema || schema.includes(c);
  const wanted = columns && schema ? [...new Set([...columns, ...extraColumns])].filter(has).join(',') : '';

  // A new table, filter or search starts at the first page.
  useEffect(() => {
    setOffset(0);
    setOpen(null);
  }, [q, chosen]);

  useEffect(() => {
    if (!built) {
      if (schema !== undefined) setLoading(false);
      return undefined;
    }
    let alive = true;
    setLoading(true);
    getJSON(`/api/tables/${encodeURIComponent(table)}`, {
      offset,
      limit: LIMIT,
      q,
      sort: sort || '',
      desc: sort && desc ? 'true' : '',
      where: allWhere,
      columns: wanted,
    }).then(
      (r) => {
        if (!alive) return;
        setPage(r);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (!alive) return;
        setError(e);
        setPage(null);
        setLoading(false);
      },
    );
    return () => {
      alive = false;
    };
  }, [table, built, schema, offset, q, sort, desc, allWhere, wanted]);

  const missing = schema === null || (error && error.status === 404);
  const empty = !!schema && schema.length === 0;
  const total = page ? page.total : 0;
  const shown = columns ? columns.filter(has) : page ? page.columns.map((c) => c.name) : [];
  // ids in other columns read as their labels (the server's `labels`); a row's own id stays an id
  const key0 = schema && schema[0];
  const clickable = !!(onRowClick || renderDetail);

  const header = (c) => {
    const active = sort === c;
    return (
      <th
        key={c}
        className={active ? 'sortable sorted' : 'sortable'}
        onClick={() => {
          if (active) setDesc(!desc);
          else {
            setSort(c);
            setDesc(false);
          }
          setOffset(0);
        }}
        title="sort"
      >
        {c}
        {active ? (desc ? ' ▼' : ' ▲') : ''}
      </th>
    );
  };

  return (
    <div className="datatable" data-testid="data-table" data-total={total} data-table-name={table}>
      <div className="dt-bar">
        {title && <strong className="dt-title">{title}</strong>}
        <input
          type="search"
          className="dt-search"
          placeholder={`search ${table}…`}
          data-testid="table-search"
          value={input}
          onChange={(e) => setInput(e.target.value)}
        />
        {built && facets.filter(has).map((f) => (
          <Facet
            key={f}
            table={table}
            column={f}
            where={fixedWhere}
            value={chosen[f] ?? ''}
            onChange={(v) => setChosen((c) => ({ ...c, [f]: v }))}
          />
        ))}
        <span className="dt-total">
          {loading ? 'loading…' : `${total.toLocaleString('en-US')} row${total === 1 ? '' : 's'}`}
        </span>
      </div>
      {missing ? <NotBuilt what={table} /> : <ErrorBox error={error} />}
      {empty && <div className="muted">no rows</div>}
      {page && (
        <div className="dt-scroll">
          <table className="grid">
            <thead>
              <tr>{shown.map(header)}</tr>
            </thead>
            <tbody>
              {page.rows.length === 0 && (
                <tr>
                  <td colSpan={Math.max(shown.length, 1)} className="muted">
                    no rows
                  </td>
                </tr>
              )}
              {page.rows.map((row, i) => {
                const key = offset + i;
                return (
                  <Fragment key={key}>
                    <tr
                      data-testid="table-row"
                      className={clickable ? 'clickable' : undefined}
                      onClick={(e) => {
                        if (!clickable || e.target.closest('a')) return;
                        if (renderDetail) setOpen(open === key ? null : key);
                        if (onRowClick) onRowClick(row);
                      }}
                    >
                      {shown.map((c) => (
                        <td key={c}>
                          <Value value={row[c]} labels={c === key0 ? null : page.labels} />
                        </td>
                      ))}
                    </tr>
                    {renderDetail && open === key && (
                      <tr className="detail">
                        <td colSpan={shown.length}>{renderDetail(row)}</td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {page && total > LIMIT && (
        <div className="dt-pager">
          <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - LIMIT))}>
            Prev
          </button>
          <span>
            {offset + 1}–{Math.min(offset + LIMIT, total)} of {total.toLocaleString('en-US')}
          </span>
          <button type="button" disabled={offset + LIMIT >= total} onClick={() => setOffset(offset + LIMIT)}>
            Next
          </button>
        </div>
      )}
    </div>
  );
}
