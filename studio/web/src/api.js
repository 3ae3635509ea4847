// Fetch helpers for the Studio API (docs/studio.md). Same-origin only; errors carry the
// server's `detail` text so screens can show it.
import { useCallback, useEffect, useRef, useState } from 'react';

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Query string from an object; arrays repeat the key, null/undefined/'' are left out. */
export function qs(params = {}) {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => sp.append(k, String(x)));
    else sp.append(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

async function detailOf(res) {
  let text = `${res.status} ${res.statusText}`.trim();
  try {
    const body = await res.text();
    try {
      const j = JSON.parse(body);
      const d = j && j.detail !== undefined ? j.detail : j;
      text = typeof d === 'string' ? d : JSON.stringify(d);
    } catch {
      if (body) text = body.slice(0, 500);
    }
  } catch {
    /* keep the status line */
  }
  return text;
}

async function request(path, init = {}) {
  let res;
  try {
    res = await fetch(path, { credentials: 'same-origin', ...init });
  } catch (e) {
    throw new ApiError(`network error: ${e.message}`, 0);
  }
  if (!res.ok) throw new ApiError(await detailOf(res), res.status);
  if (res.status === 204) return null;
  return res.json();
}

export function getJSON(path, params) {
  return request(path + (params ? qs(params) : ''), { headers: { Accept: 'application/json' } });
}

let sessionPromise = null;

/** `/api/session`, fetched once (again after a failure). */
export function getSession() {
  if (!sessionPromise) {
    sessionPromise = getJSON('/api/session').catch((e) => {
      sessionPromise = null;
      throw e;
    });
  }
  return sessionPromise;
}

export async function postJSON(path, body) {
  const send = async () => {
    const { csrf } = await getSession();
    return request(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body ?? {}),
    });
  };
  try {
    return await send();
  } catch (e) {
    // a restarted Studio has a new CSRF token: fetch the session again, retry once
    if (!(e instanceof ApiError) || e.status !== 403 || !/CSRF/.test(e.message)) throw e;
    sessionPromise = null;
    return send();
  }
}

/**
 * GET `path` (null: nothing) and keep {data, error, loading, reload}. `poll(data)` true →
 * fetch again every `every` ms. A response to an older path is dropped.
 */
export function useApi(path, { poll, every = 2000 } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: !!path });
  const [tick, setTick] = useState(0);
  const pollRef = useRef(poll);
  pollRef.current = poll;
  const lastRef = useRef({ path: null, data: null }); // the last answer, for polls that fail

  useEffect(() => {
    if (!path) {
      setState({ data: null, error: null, loading: false });
      return undefined;
    }
    let alive = true;
    let timer = null;
    // a new path starts empty (never shows the previous path's data under the new one);
    // a poll of the same path keeps its data until the answer comes
    setState((s) => (s.path === path ? { ...s, loading: true }
      : { path, data: null, error: null, loading: true }));
    const again = () => {
      timer = setTimeout(() => alive && setTick((t) => t + 1), every);
    };
    getJSON(path).then(
      (data) => {
        if (!alive) return;
        lastRef.current = { path, data };
        setState({ path, data, error: null, loading: false });
        if (pollRef.current && pollRef.current(data)) again();
      },
      (error) => {
        if (!alive) return;
        setState((s) => ({ ...s, path, error, loading: false }));
        // a failed poll (the server restarting, say) does not stop the polling
        const last = lastRef.current.path === path ? lastRef.current.data : null;
        if (pollRef.current && last && pollRef.current(last)) again();
      },
    );
    return () => {
      alive = false;
      if (timer) clearTimeout(timer);
    };
  }, [path, tick, every]);

  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

let tablesCache = { at: 0, promise: null };

/** `GET /api/tables`, shared by the tables of a screen (re-read after a few seconds: stages
 * commit new tables while the Studio runs). */
export function getTables() {
  const now = Date.now();
  if (!tablesCache.promise || now - tablesCache.at > 3000) {
    const promise = getJSON('/api/tables').catch((e) => {
      if (tablesCache.promise === promise) tablesCache = { at: 0, promise: null };
      throw e;
    });
    tablesCache = { at: now, promise };
  }
  return tablesCache.promise;
}

/** The workspace's tables: {names: Set | null while loading, tables, error}. */
export function useTableNames() {
  const [state, setState] = useState({ tables: null, error: null });
  useEffect(() => {
    let alive = true;
    getTables().then(
      (tables) => alive && setState({ tables, error: null }),
      (error) => alive && setState({ tables: null, error }),
    );
    return () => {
      alive = false;
    };
  }, []);
  const { tables, error } = state;
  return { names: tables ? new Set(tables.map((t) => t.name)) : null, tables, error };
}

/** A committed stage's manifest (`GET /api/stages/{name}`, config redacted), or null when the
 * stage has not run: {stage, report, error, loading}. */
export function useStageReport(name) {
  const ov = useApi('/api/overview');
  const st = ov.data && (ov.data.stages || []).find((s) => s.name === name);
  const built = !!(st && st.fingerprint);
  const res = useApi(built ? `/api/stages/${encodeURIComponent(name)}` : null);
  return {
    stage: res.data,
    report: res.data ? res.data.report || null : null,
    error: ov.error || res.error,
    loading: ov.loading || res.loading,
    built,
  };
}
