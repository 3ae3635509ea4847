// A cytoscape view. `elements` are cytoscape elements; a new `elementsKey` redraws.
import { useEffect, useRef } from 'react';
import cytoscape from 'cytoscape';

const BASE_STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)',
      'background-color': 'data(color)',
      color: '#1f2933',
      'font-size': 11,
      'text-valign': 'bottom',
      'text-halign': 'center',
      'text-margin-y': 4,
      'text-wrap': 'ellipsis',
      'text-max-width': '140px',
      width: 22,
      height: 22,
      'border-width': 1,
      'border-color': '#52606d',
    },
  },
  {
    selector: 'node.centre',
    style: { width: 34, height: 34, 'border-width': 3, 'border-color': '#1f2933', 'font-weight': 'bold' },
  },
  {
    selector: 'edge',
    style: {
      width: 1.5,
      'line-color': '#9aa5b1',
      'target-arrow-color': '#9aa5b1',
      'target-arrow-shape': 'triangle',
      'curve-style': 'bezier',
      label: 'data(label)',
      'font-size': 9,
      color: '#616e7c',
      'text-rotation': 'autorotate',
      'text-background-color': '#ffffff',
      'text-background-opacity': 0.8,
      'text-background-padding': '1px',
    },
  },
];

export default function Graph({ elements, elementsKey, layout, onNodeTap, height = 360, testid, style = [] }) {
  const ref = useRef(null);
  const tapRef = useRef(onNodeTap);
  tapRef.current = onNodeTap;

  useEffect(() => {
    if (!ref.current) return undefined;
    const cy = cytoscape({
      container: ref.current,
      elements,
      style: [...BASE_STYLE, ...style],
      layout: layout || { name: 'breadthfirst', directed: true, spacingFactor: 1.1, padding: 20 },
      minZoom: 0.2,
      maxZoom: 1.6,
      boxSelectionEnabled: false,
      autoungrabify: false,
    });
    cy.on('tap', 'node', (evt) => tapRef.current && tapRef.current(evt.target.id(), evt.target.data()));
    cy.on('mouseover', 'node', () => {
      if (ref.current) ref.current.style.cursor = tapRef.current ? 'pointer' : 'default';
    });
    cy.on('mouseout', 'node', () => {
      if (ref.current) ref.current.style.cursor = 'default';
    });
    return () => cy.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [elementsKey]);

  return <div className="graph" ref={ref} style={{ height }} data-testid={testid} />;
}
