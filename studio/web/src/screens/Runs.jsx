// #/runs — jobs (start, cancel, log), a timeline of stage runs, and the artefact tree.
import { useState } from 'react';
import { postJSON, qs, useApi } from '../api.js';
import { ErrorBox, Section, Status, fmtNum, fmtSeconds, fmtTime } from '../common.jsx';
import { STATE_COLORS, anyRunning } from './Overview.jsx';

const JOB_COLORS = { running: '#2f6fde', succeeded: '#3fa66a', failed: '#d64545', cancelled: '#9aa5b1' };

const cmd = (c) => (Array.isArray(c) ? c.join(' ') : String(c ?? ''));
/** The command with its program as a bare name (the full one is the title). */
const shortCmd = (c) =>
  Array.isArray(c) && c.length ? [String(c[0]).split('/').pop(), ...c.slice(1)].join(' ') : cmd(c);

function JobLog({ id }) {
  const res = useApi(`/api/jobs/${encodeURIComponent(id)}`, { poll: (j) => !!j && j.state === 'running', every: 1500 });
  const j = res.data;
  return (
    <Section title={`Job ${id}${j ? ` — ${j.state}` : ''}`}>
      <Status {...res} />
      {j && (
        <>
          <div className="mono small">{cmd(j.command)}</div>
          <pre className="log" data-testid="log-view">
            {j.log || '(no output yet)'}
          </pre>
        </>
      )}
    </Section>
  );
}

function StartForm({ stages, onStarted }) {
  const [stage, setStage] = useState('');
  const [force, setForce] = useState(false);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const cur = stage || (stages[0] && stages[0].name) || '';
  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const job = await postJSON('/api/jobs', { stage: cur, force });
      onStarted(job);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="form-row" onSubmit={submit}>
      <label>
        stage{' '}
        <select value={cur} onChange={(e) => setStage(e.target.value)} data-testid="start-stage">
          {stages.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name} ({s.state})
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} data-testid="start-force" /> force
      </label>
      <button type="submit" data-testid="start-job" disabled={!cur || busy}>
        Run stage
      </button>
      <ErrorBox error={error} />
    </form>
  );
}

function Timeline({ stages }) {
  const runs = stages
    .filter((s) => s.finished_at && typeof s.seconds === 'number')
    .map((s) => {
      const end = new Date(s.finished_at).getTime();
      return { name: s.name, state: s.state, end, start: end - s.seconds * 1000, seconds: s.seconds };
    })
    .filter((r) => Number.isFinite(r.end))
    .sort((a, b) => a.start - b.start);
  if (runs.length === 0) return <div className="notbuilt">No finished stage runs yet.</div>;
  const t0 = Math.min(...runs.map((r) => r.start));
  const t1 = Math.max(...runs.map((r) => r.end));
  const span = Math.max(t1 - t0, 1);
  return (
    <div className="timeline" data-testid="timeline">
      {runs.map((r) => (
        <div key={r.name} className="tl-row">
          <div className="tl-name">{r.name}</div>
          <div className="tl-track">
            <div
              className="tl-bar"
              title={`${fmtTime(new Date(r.start).toISOString())} → ${fmtTime(new Date(r.end).toISOString())}`}
              style={{
                left: `${(100 * (r.start - t0)) / span}%`,
                width: `${Math.max((100 * (r.end - r.start)) / span, 0.4)}%`,
                background: STATE_COLORS[r.state] || '#9aa5b1',
              }}
            />
          </div>
          <div className="tl-time">{fmtSeconds(r.seconds)}</div>
        </div>
      ))}
      <div className="muted small">
        {fmtTime(new Date(t0).toISOString())} → {fmtTime(new Date(t1).toISOString())}
      </div>
    </div>
  );
}

const fileUrl = (p) => `/api/file${qs({ path: p })}`;

function Files() {
  const [path, setPath] = useState('');
  const res = useApi(`/api/files${qs({ path })}`);
  const d = res.data;
  const parts = (d ? d.path || '' : path).split('/').filter(Boolean);
  const entries = (d && d.entries) || [];
  const images = entries.filter((e) => e.type === 'file' && /\.(png|jpe?g|svg|gif)$/i.test(e.name));
  return (
    <Section title="Artefacts">
      <div className="crumbs">
        <button type="button" className="link" onClick={() => setPath('')}>
          workspace
        </button>
        {parts.map((p, i) => (
          <span key={`${i}-${p}`}>
            {' / '}
            <button type="button" className="link" onClick={() => setPath(parts.slice(0, i + 1).join('/'))}>
              {p}
            </button>
          </span>
        ))}
      </div>
      <Status {...res} />
      {d && entries.length === 0 && <div className="muted">empty</div>}
      {entries.length > 0 && (
        <table className="grid small" data-testid="file-list">
          <tbody>
            {entries.map((e) => (
              <tr key={e.path}>
                <td>
                  {e.type === 'dir' ? (
                    <button type="button" className="link" onClick={() => setPath(e.path)}>
                      ▸ {e.name}/
                    </button>
                  ) : (
                    <a href={fileUrl(e.path)} target="_blank" rel="noreferrer">
                      {e.name}
                    </a>
                  )}
                </td>
                <td className="num">{e.type === 'file' && typeof e.size === 'number' ? `${fmtNum(e.size)} B` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {images.length > 0 && (
        <div className="images">
          {images.map((e) => (
            <figure key={e.path}>
              <img src={fileUrl(e.path)} alt={e.name} />
              <figcaption>{e.name}</figcaption>
            </figure>
          ))}
        </div>
      )}
    </Section>
  );
}

export default function Runs() {
  const jobs = useApi('/api/jobs', { poll: (js) => Array.isArray(js) && js.some((j) => j.state === 'running'), every: 2000 });
  const ov = useApi('/api/overview', { poll: anyRunning, every: 2000 });
  const [selected, setSelected] = useState(null);
  const [actionError, setActionError] = useState(null);
  const [cancelling, setCancelling] = useState({});
  const list = Array.isArray(jobs.data) ? jobs.data : (jobs.data && jobs.data.jobs) || [];
  const stages = (ov.data && ov.data.stages) || [];

  const cancel = async (id) => {
    setActionError(null);
    setCancelling((c) => ({ ...c, [id]: true }));
    try {
      await postJSON(`/api/jobs/${encodeURIComponent(id)}/cancel`, {});
      jobs.reload();
      ov.reload();
    } catch (e) {
      setActionError(e);
    } finally {
      setCancelling((c) => ({ ...c, [id]: false }));
    }
  };

  return (
    <div>
      <h2>Runs &amp; files</h2>
      <Section title="Run a stage">
        <Status {...ov} />
        {ov.data && (
          <StartForm
            stages={stages}
            onStarted={(job) => {
              setSelected(job.id);
              jobs.reload();
              ov.reload();
            }}
          />
        )}
      </Section>
      <Section title="Jobs">
        <Status {...jobs} />
        <ErrorBox error={actionError} />
        {jobs.data && list.length === 0 && <div className="muted">No jobs yet.</div>}
        {list.length > 0 && (
          <table className="grid">
            <thead>
              <tr>
                <th>id</th>
                <th>stage</th>
                <th>command</th>
                <th>state</th>
                <th>started</th>
                <th>ended</th>
                <th className="num">rc</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {list.map((j) => (
                <tr
                  key={j.id}
                  data-testid={`job-${j.id}`}
                  data-state={j.state}
                  className={j.id === selected ? 'clickable selected' : 'clickable'}
                  onClick={(e) => !e.target.closest('button') && setSelected(j.id)}
                >
                  <td className="mono">{j.id}</td>
                  <td>{j.stage}</td>
                  <td className="mono small" title={cmd(j.command)}>
                    {shortCmd(j.command)}
                  </td>
                  <td>
                    <span className="badge" style={{ background: JOB_COLORS[j.state] || '#ccc' }}>
                      {j.state}
                    </span>
                  </td>
                  <td className="nowrap">{fmtTime(j.started_at)}</td>
                  <td className="nowrap">{fmtTime(j.ended_at)}</td>
                  <td className="num">{j.returncode ?? '—'}</td>
                  <td className="nowrap">
                    <button type="button" className="secondary" onClick={() => setSelected(j.id)}>
                      Log
                    </button>{' '}
                    {j.state === 'running' && (
                      <button
                        type="button"
                        className="danger"
                        data-testid={`cancel-${j.id}`}
                        disabled={!!cancelling[j.id]}
                        onClick={() => cancel(j.id)}
                      >
                        {cancelling[j.id] ? 'Cancelling…' : 'Cancel'}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>
      {selected && <JobLog key={selected} id={selected} />}
      <Section title="Timeline of stage runs">{ov.data ? <Timeline stages={stages} /> : <Status {...ov} />}</Section>
      <Files />
    </div>
  );
}
