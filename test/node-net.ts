/**
 * Where each part of a multi-node test runs, on the network:
 * - `netns` (root, with iproute2): every node in its own network namespace with its own address
 *   10.X.Y.n/24 on a veth pair, all pairs on one bridge in the test's namespace, which holds
 *   10.X.Y.1 (the test process and Anvil). A node reaches the others only through that bridge, as
 *   machines on one LAN; its own 127.0.0.1 is its alone.
 * - `loopback` (otherwise: no privileges, as on CI's runner): every node on its own 127.0.0.n
 *   address in the test's namespace. Separate addresses, not separate network stacks.
 * $W3A_TEST_NET=loopback forces loopback; $W3A_TEST_NET=netns fails instead of falling back.
 * The mode that ran and why is in `mode` / `why`: a test prints it, never claims isolation it lacks.
 * Namespaces and links are named after this process's pid (w3a-PID-*, w3bPID, w3vPIDx*) and removed
 * by close(); ones left by a test process that no longer exists are removed on the next start.
 */
import { spawnSync } from 'node:child_process'
import { getFreePort } from '../src/chain/index.js'
import { processAlive } from './w3a-up-process.js'

/** One node's place: its address, and the command prefix that runs a process there. */
export type NodePlace = {
  name: string
  address: string
  /** e.g. `ip netns exec w3a-123-keeper-1`; empty in loopback mode. */
  launcher: string[]
  /** A port free at `address` (in netns mode any port is: the namespace is the node's alone). */
  port(): Promise<number>
}

export type NodeNet = {
  mode: 'netns' | 'loopback'
  why: string
  /** Address in the test's own namespace that every node reaches (Anvil listens here). */
  hubAddress: string
  place(name: string): NodePlace
  /** Removes the namespaces and links (stop the processes in them first). Idempotent. */
  close(): void
}

const ip = (...args: string[]) => spawnSync('ip', args, { encoding: 'utf8' })

function must(...args: string[]): string {
  const r = ip(...args)
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`)
  return r.stdout
}

/** Namespaces, bridges and veth ends of test processes that are gone (killed before their close()). */
function removeLeftovers(): void {
  const sweep = (list: string[], name: RegExp, del: (name: string) => void) => {
    for (const line of (ip(...list).stdout ?? '').split('\n')) {
      const m = name.exec(line)
      if (m && !processAlive(Number(m[2]))) del(m[1]!)
    }
  }
  sweep(['netns', 'list'], /^(w3a-(\d+)-\S+)/, (ns) => ip('netns', 'del', ns))
  sweep(['-o', 'link', 'show', 'type', 'bridge'], /^\d+: (w3b(\d+)):/, (link) => ip('link', 'del', link))
  sweep(['-o', 'link', 'show', 'type', 'veth'], /^\d+: (w3v(\d+)x\d+)[@:]/, (link) => ip('link', 'del', link))
}

/** A 10.X.Y.0/24 no interface here uses, chosen from the pid so two test runs at once differ. */
function freeSubnet(): string {
  const used = ip('-4', '-o', 'addr').stdout ?? ''
  for (let i = 0; i < 256; i++) {
    const n = (process.pid + i * 7919) % (100 * 256)
    const prefix = `10.${100 + Math.floor(n / 256)}.${n % 256}`
    if (!used.includes(` ${prefix}.`)) return prefix
  }
  throw new Error('no free 10.x.y.0/24 for the test network')
}

function loopbackNet(why: string): NodeNet {
  let next = 10
  return {
    mode: 'loopback',
    why,
    hubAddress: '127.0.0.1',
    place(name) {
      const address = `127.0.0.${next++}`
      return { name, address, launcher: [], port: () => getFreePort(address) }
    },
    close() {},
  }
}

function namespaceNet(): NodeNet {
  removeLeftovers()
  const pid = process.pid
  const bridge = `w3b${pid}`
  const subnet = freeSubnet()
  const namespaces: string[] = []
  const veths: string[] = []
  // A MAC of its own: a bridge without one takes its ports' lowest, so it would change as nodes are
  // added, and nodes would send to the hub's old MAC until their ARP entry expired (seconds of
  // silence from Anvil, seen as CHAIN_UNREACHABLE).
  const [, x, y] = subnet.split('.')
  must('link', 'add', bridge, 'address', `02:77:00:${Number(x).toString(16).padStart(2, '0')}:${Number(y).toString(16).padStart(2, '0')}:01`, 'type', 'bridge')
  let closed = false
  const close = () => {
    if (closed) return
    closed = true
    // Our end of each veth pair first: a namespace can outlive its `del` (the kernel frees it once
    // its last socket is gone), and with it the pair.
    for (const veth of veths) ip('link', 'del', veth)
    for (const ns of namespaces) ip('netns', 'del', ns)
    ip('link', 'del', bridge)
  }
  process.once('exit', close)
  try {
    must('addr', 'add', `${subnet}.1/24`, 'dev', bridge)
    must('link', 'set', bridge, 'up')
  } catch (e) {
    close()
    throw e
  }
  let next = 10
  return {
    mode: 'netns',
    why: `one network namespace per node on bridge ${bridge} (${subnet}.0/24)`,
    hubAddress: `${subnet}.1`,
    place(name) {
      const n = next++
      const ns = `w3a-${pid}-${name}`
      const veth = `w3v${pid}x${n}`
      const address = `${subnet}.${n}`
      must('netns', 'add', ns)
      namespaces.push(ns)
      must('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
      veths.push(veth)
      must('link', 'set', veth, 'master', bridge, 'up')
      must('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0')
      must('-n', ns, 'link', 'set', 'eth0', 'up')
      must('-n', ns, 'link', 'set', 'lo', 'up')
      let port = 8700
      return { name, address, launcher: ['ip', 'netns', 'exec', ns], port: async () => port++ }
    },
    close,
  }
}

/** Namespaces when this process may make them (and $W3A_TEST_NET allows), else loopback addresses. */
export function createNodeNet(): NodeNet {
  const wanted = process.env['W3A_TEST_NET']
  if (wanted === 'loopback') return loopbackNet('$W3A_TEST_NET=loopback')
  try {
    return namespaceNet()
  } catch (e) {
    if (wanted === 'netns') throw e
    return loopbackNet(`network namespaces unavailable (${(e as Error).message.split('\n')[0]})`)
  }
}
