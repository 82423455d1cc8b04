// The error banner: what is broken right now (a server error, the server unreachable, a token needed), above
// every page, instead of a blank or silently stale page. It goes away by itself once things work again.
import { useEffect, useState } from 'preact/hooks';
import { setToken } from '../api.ts';
import { onProblems, type Problem } from '../problems.ts';

export function Banner() {
  const [problems, setProblems] = useState<Map<string, Problem>>(new Map());
  useEffect(() => onProblems(setProblems), []);
  if (problems.size === 0) return null;
  const auth = problems.get('auth');
  const others = [...problems].filter(([key]) => key !== 'auth');
  return (
    <div class="banners">
      {auth && <TokenForm problem={auth} />}
      {others.map(([key, problem]) => (
        <div key={key} class={`banner ${problem.kind}`} role="alert" data-testid="error-banner">
          <strong>{problem.title}</strong>
          <span class="banner-detail">{problem.detail}</span>
        </div>
      ))}
    </div>
  );
}

function TokenForm({ problem }: { problem: Problem }) {
  const [value, setValue] = useState('');
  return (
    <form
      class="banner auth"
      aria-live="assertive"
      data-testid="token-form"
      onSubmit={(event) => {
        event.preventDefault();
        setToken(value.trim() || null);
        location.reload();
      }}
    >
      <strong>{problem.title}</strong>
      <span class="banner-detail">{problem.detail} (Or open this page as …/#token=YOUR_TOKEN.)</span>
      <span class="token-row">
        <input
          type="password"
          autocomplete="off"
          placeholder="token"
          aria-label="token"
          value={value}
          onInput={(event) => setValue((event.target as HTMLInputElement).value)}
        />
        <button type="submit">Use token</button>
      </span>
    </form>
  );
}
