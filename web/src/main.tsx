// The dashboard's entry point: takes a token from the address if one was given, then renders the app.
import { render } from 'preact';
import { takeTokenFromAddress } from './api.ts';
import { App } from './app.tsx';
import './styles.css';

takeTokenFromAddress();
render(<App />, document.getElementById('app')!);
