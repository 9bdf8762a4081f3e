import { main } from './main.js'

// Exit explicitly: a finished command must not linger on open handles (DuckDB, sockets).
process.exit(await main(process.argv.slice(2)))
