import { HashRouter, NavLink, Route, Routes } from 'react-router-dom';
import { useEffect, useState } from 'react';
import { getSession } from './api.js';
import Overview from './screens/Overview.jsx';
import Corpus from './screens/Corpus.jsx';
import Knowledge from './screens/Knowledge.jsx';
import Node from './screens/Node.jsx';
import Benchmark from './screens/Benchmark.jsx';
import TrainingData from './screens/TrainingData.jsx';
import Training from './screens/Training.jsx';
import Evaluation from './screens/Evaluation.jsx';
import Diagnosis from './screens/Diagnosis.jsx';
import Runs from './screens/Runs.jsx';

const NAV = [
  ['overview', '/', 'Overview'],
  ['corpus', '/corpus', 'Corpus'],
  ['knowledge', '/knowledge', 'Knowledge'],
  ['benchmark', '/benchmark', 'Benchmark'],
  ['training-data', '/training-data', 'Training data'],
  ['training', '/training', 'Training'],
  ['evaluation', '/evaluation', 'Evaluation'],
  ['diagnosis', '/diagnosis', 'Diagnosis'],
  ['runs', '/runs', 'Runs & files'],
];

function SessionInfo() {
  const [s, setS] = useState(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    getSession().then(setS, setErr);
  }, []);
  if (err) return <div className="ws bad" title={err.message}>no session</div>;
  if (!s) return null;
  return (
    <div className="ws" title={s.workspace}>
      <div className="ws-name">{String(s.workspace).split('/').filter(Boolean).pop()}</div>
      <div className="muted">v{s.version}{s.ray_address ? ` · ray ${s.ray_address}` : ''}</div>
    </div>
  );
}

function NotFound() {
  return <div className="notbuilt">No such page.</div>;
}

export default function App() {
  return (
    <HashRouter>
      <div className="layout">
        <nav className="nav">
          <div className="brand">proda Studio</div>
          <SessionInfo />
          {NAV.map(([id, to, label]) => (
            <NavLink key={id} to={to} end={to === '/'} data-testid={`nav-${id}`}>
              {label}
            </NavLink>
          ))}
        </nav>
        <main className="main">
          <Routes>
            <Route path="/" element={<Overview />} />
            <Route path="/corpus" element={<Corpus />} />
            <Route path="/knowledge" element={<Knowledge />} />
            <Route path="/node/:id" element={<Node />} />
            <Route path="/benchmark" element={<Benchmark />} />
            <Route path="/training-data" element={<TrainingData />} />
            <Route path="/training" element={<Training />} />
            <Route path="/evaluation" element={<Evaluation />} />
            <Route path="/diagnosis" element={<Diagnosis />} />
            <Route path="/runs" element={<Runs />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </main>
      </div>
    </HashRouter>
  );
}
