import './styles.css'
import { render } from 'preact'
import { App } from './app.js'

const root = document.getElementById('app')!
root.textContent = '' // the static "Loading" line
render(<App />, root)
