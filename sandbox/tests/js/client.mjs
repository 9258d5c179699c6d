// Drives a running sandbox with the official OpenWhisk JavaScript client (npm `openwhisk`), as
// a user's own code would against a real OpenWhisk: a trigger with an alarms feed, a rule
// created, fired through and disabled, an action invoked and its activation read back.
//
//   SANDBOX_URL=http://127.0.0.1:3233 SANDBOX_KEY=uuid:key node client.mjs
//
// Prints one line per step; exits non-zero (with the failing step) on the first failure.

import assert from 'node:assert/strict'
import openwhisk from 'openwhisk'

const ow = openwhisk({ apihost: process.env.SANDBOX_URL, api_key: process.env.SANDBOX_KEY })
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function eventually (what, probe) {
  const deadline = Date.now() + 30000
  for (;;) {
    const found = await probe()
    if (found) return found
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

async function step (name, work) {
  try {
    const out = await work()
    console.log(`ok - ${name}`)
    return out
  } catch (error) {
    console.log(`not ok - ${name}: ${error.message} ${JSON.stringify(error.error || '')}`)
    process.exit(1)
  }
}

const echo = '#!/bin/sh\nIN=$(cat)\necho "$IN" >&2\necho "$IN"\n'

await step('namespaces.list', async () => {
  assert.deepEqual(await ow.namespaces.list(), ['guest'])
})

await step('actions.create (blackbox without an image is refused, as by OpenWhisk)', async () => {
  const refused = await ow.actions.create({ name: 'js-echo', action: echo, kind: 'blackbox' }).then(() => null, (error) => error)
  assert.equal(refused.statusCode, 400)
  assert.match(refused.error.error, /'image' must be a string defined in 'exec' for 'blackbox' actions/)
})

await step('actions.create (blackbox)', async () => {
  const action = await ow.actions.create({
    name: 'js-echo', action: echo, kind: 'blackbox', exec: { image: 'openwhisk/dockerskeleton' }, params: { fixed: 'yes' }
  })
  assert.equal(action.name, 'js-echo')
})

await step('packages.list tells packages from bindings; packages.get hides action parameters', async () => {
  await ow.packages.create({ name: 'js-pkg' })
  await ow.packages.create({ name: 'js-bound', package: { binding: { namespace: 'guest', name: 'js-pkg' } } })
  await ow.actions.create({
    name: 'js-pkg/secretive', action: echo, kind: 'blackbox', exec: { image: 'openwhisk/dockerskeleton' }, params: { token: 's3cr3t' }
  })
  const packages = await ow.packages.list()
  assert.equal(packages.find((p) => p.name === 'js-pkg').binding, false)
  assert.deepEqual(packages.find((p) => p.name === 'js-bound').binding, { namespace: 'guest', name: 'js-pkg' })
  const pkg = await ow.packages.get({ name: 'js-pkg' })
  assert.deepEqual(pkg.actions.map((a) => a.name), ['secretive'])
  assert.equal(pkg.actions[0].parameters, undefined)
  assert.ok(!JSON.stringify(pkg).includes('s3cr3t'))
  await ow.actions.delete({ name: 'js-pkg/secretive' })
  await ow.packages.delete({ name: 'js-bound' })
  await ow.packages.delete({ name: 'js-pkg' })
})

const invoked = await step('actions.invoke blocking (logs only in the record)', async () => {
  const activation = await ow.actions.invoke({ name: 'js-echo', blocking: true, params: { n: 1 } })
  assert.equal(activation.response.success, true)
  assert.deepEqual(activation.logs, [])
  assert.deepEqual(activation.response.result, { fixed: 'yes', n: 1 })
  return activation
})

await step('actions.invoke blocking result', async () => {
  assert.deepEqual(await ow.actions.invoke({ name: 'js-echo', blocking: true, result: true, params: { n: 2 } }), { fixed: 'yes', n: 2 })
})

await step('activations.get / result / logs', async () => {
  const activation = await ow.activations.get({ name: invoked.activationId })
  assert.equal(activation.activationId, invoked.activationId)
  assert.deepEqual((await ow.activations.result({ name: invoked.activationId })).result, { fixed: 'yes', n: 1 })
  const { logs } = await ow.activations.logs({ name: invoked.activationId })
  assert.ok(logs.some((line) => line.includes('"n":1')), JSON.stringify(logs))
})

await step('triggers.create', async () => {
  await ow.triggers.create({ name: 'js-tick', trigger: { parameters: [{ key: 'fromTrigger', value: true }] } })
})

await step('feeds.create with /whisk.system/alarms/alarm', async () => {
  const created = await ow.feeds.create({
    name: '/whisk.system/alarms/alarm',
    trigger: 'js-tick',
    params: { cron: '0 0 1 1 *', trigger_payload: { from: 'alarm' } }
  })
  assert.deepEqual(created.response.result, { status: 'success' })
})

await step('feeds.get (READ)', async () => {
  const read = await ow.feeds.get({ name: '/whisk.system/alarms/alarm', trigger: 'js-tick' })
  assert.equal(read.response.result.config.cron, '0 0 1 1 *')
  assert.equal(read.response.result.status.active, true)
})

await step('rules.create', async () => {
  const rule = await ow.rules.create({ name: 'js-rule', action: 'js-echo', trigger: 'js-tick' })
  assert.equal(rule.status, 'active')
})

const fired = await step('triggers.invoke (fire)', async () => {
  const fire = await ow.triggers.invoke({ name: 'js-tick', params: { fired: 1 } })
  assert.match(fire.activationId, /^[0-9a-f]{32}$/)
  return fire
})

await step('the rule ran the action (activations.list)', async () => {
  await eventually('the rule-fired activation', async () => {
    const list = await ow.activations.list({ name: 'js-echo', docs: true })
    return list.find((a) => a.cause === fired.activationId && a.response.result.fired === 1 && a.response.result.fromTrigger === true)
  })
})

await step('rules.disable', async () => {
  assert.equal(await ow.rules.disable({ name: 'js-rule' }), 'OK')
  assert.equal((await ow.rules.get({ name: 'js-rule' })).status, 'inactive')
})

await step('triggers.invoke with the rule disabled', async () => {
  const fire = await ow.triggers.invoke({ name: 'js-tick', params: { fired: 2 } })
  assert.equal(fire.activationId, undefined, JSON.stringify(fire))
})

await step('rules.enable and list', async () => {
  assert.equal(await ow.rules.enable({ name: 'js-rule' }), 'OK')
  const rules = await ow.rules.list()
  assert.ok(rules.some((r) => r.name === 'js-rule'))
})

await step('feeds.delete, then clean up', async () => {
  await ow.feeds.delete({ name: '/whisk.system/alarms/alarm', trigger: 'js-tick' })
  await ow.rules.delete({ name: 'js-rule' })
  await ow.triggers.delete({ name: 'js-tick' })
  await ow.actions.delete({ name: 'js-echo' })
  const missing = await ow.actions.get({ name: 'js-echo' }).then(() => 'found', (error) => error.statusCode)
  assert.equal(missing, 404)
})

console.log('all steps passed')
