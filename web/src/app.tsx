// The shell: a header with the pages (Deployment only where `sluice up` runs one), the error banner, and the page of
// the current address.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ApiIndexJson } from '../../src/http/api.ts';
import { getJson } from './api.ts';
import { Banner } from './components/Banner.tsx';
import { Checkpoints } from './pages/Checkpoints.tsx';
import { Deployment } from './pages/Deployment.tsx';
import { Overview } from './pages/Overview.tsx';
import { Results } from './pages/Results.tsx';
import { Topics } from './pages/Topics.tsx';
import { navigate, useRoute } from './router.ts';

const PAGES: { path: string; label: string; page: () => ComponentChildren }[] = [
  { path: '/', label: 'Overview', page: () => <Overview /> },
  { path: '/topics', label: 'Topics', page: () => <Topics /> },
  { path: '/results', label: 'Results', page: () => <Results /> },
  { path: '/checkpoints', label: 'Checkpoints', page: () => <Checkpoints /> },
  { path: '/deployment', label: 'Deployment', page: () => <Deployment /> },
];

/** Whether this server runs a deployment (its control API is mounted): the Deployment tab is shown only then. */
function useHasDeployment(): boolean {
  const [has, setHas] = useState(false);
  useEffect(() => {
    getJson<ApiIndexJson>('/v1').then(
      (index) => setHas(index.mounts.includes('/v1/deployment')),
      () => {},
    );
  }, []);
  return has;
}

export function App() {
  const route = useRoute();
  const current = PAGES.find((p) => p.path === route.path);
  const hasDeployment = useHasDeployment();
  const shown = PAGES.filter((p) => p.path !== '/deployment' || hasDeployment || route.path === '/deployment');
  return (
    <>
      <header class="top">
        <a class="brand" href="/" onClick={follow('/')}>
          <img src="/favicon.svg" alt="" width={22} height={22} />
          Sluice
        </a>
        <nav aria-label="pages">
          {shown.map((p) => (
            <a
              key={p.path}
              href={p.path}
              onClick={follow(p.path)}
              aria-current={p.path === route.path ? 'page' : undefined}
            >
              {p.label}
            </a>
          ))}
        </nav>
      </header>
      <Banner />
      <main>
        {current ? (
          current.page()
        ) : (
          <section class="page">
            <h1>Not found</h1>
            <p>
              There is no page <code>{route.path}</code>.{' '}
              <a href="/" onClick={follow('/')}>
                Go to the overview
              </a>
              .
            </p>
          </section>
        )}
      </main>
    </>
  );
}

/** A link that changes page without reloading (a modified click still opens a new tab). */
function follow(path: string) {
  return (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(path);
  };
}
