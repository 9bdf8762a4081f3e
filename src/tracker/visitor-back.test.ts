import { test } from 'node:test'
import assert from 'node:assert/strict'
import { backAddressProblem } from './visitor-back.js'

test("the 'my data' page sends a visitor back only to the site's own domain (or this machine, on a dev network)", () => {
  for (const back of ['https://shop.example/', 'https://www.shop.example/cart?x=1', 'http://shop.example:8080/']) assert.equal(backAddressProblem(back, 'shop.example', false), undefined, back)
  assert.match(backAddressProblem('https://evil.example/', 'shop.example', false)!, /evil\.example\) is not on this site's domain \(shop\.example\)/)
  assert.match(backAddressProblem('https://shop.example.evil.example/', 'shop.example', false)!, /not on this site's domain/)
  assert.match(backAddressProblem('https://evilshop.example/', 'shop.example', false)!, /not on this site's domain/)
  assert.match(backAddressProblem('javascript:alert(1)', 'shop.example', false)!, /not a web page/)
  assert.match(backAddressProblem('', 'shop.example', false)!, /no back address/)
  assert.match(backAddressProblem('https://shop.example/', undefined, false)!, /not registered/)
  // This machine: a site being tried on a dev network, never on a real one.
  assert.equal(backAddressProblem('http://127.0.0.1:5173/', 'shop.example', true), undefined)
  assert.match(backAddressProblem('http://127.0.0.1:5173/', 'shop.example', false)!, /not on this site's domain/)
})
