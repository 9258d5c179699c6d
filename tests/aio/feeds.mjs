// One feed lifecycle step through the official OpenWhisk JavaScript client (npm `openwhisk`), as
// a user's own code does it: `create` makes the trigger (annotated with its feed) and then calls
// `feeds.create`; `get` calls `feeds.get` (READ); `delete` calls `feeds.delete`, then deletes the
// trigger (what `wsk trigger delete` does).
//
//   SANDBOX_URL=http://127.0.0.1:3233 SANDBOX_KEY=uuid:key \
//     node feeds.mjs create|get|delete FEED TRIGGER ['{"param": "value"}']
//
// Prints one JSON line: {"result": <the feed action's result>} or {"error": ..., "statusCode"};
// exits non-zero on an error.

import openwhisk from 'openwhisk'

const [step, feed, trigger, params = '{}'] = process.argv.slice(2)
const ow = openwhisk({ apihost: process.env.SANDBOX_URL, api_key: process.env.SANDBOX_KEY })

async function lifecycle () {
  switch (step) {
    case 'create': {
      const feedName = feed.startsWith('/') ? feed : `/_/${feed}`
      await ow.triggers.create({ name: trigger, trigger: { annotations: [{ key: 'feed', value: feedName }] } })
      try {
        return await ow.feeds.create({ name: feed, trigger, params: JSON.parse(params) })
      } catch (error) {
        await ow.triggers.delete({ name: trigger }).catch(() => {})
        throw error
      }
    }
    case 'get':
      return ow.feeds.get({ name: feed, trigger })
    case 'delete': {
      const deleted = await ow.feeds.delete({ name: feed, trigger })
      await ow.triggers.delete({ name: trigger })
      return deleted
    }
    default:
      throw new Error(`unknown step ${step}: create, get or delete`)
  }
}

try {
  const activation = await lifecycle()
  console.log(JSON.stringify({ result: activation.response.result }))
} catch (error) {
  console.log(JSON.stringify({ error: error.error || error.message, statusCode: error.statusCode }))
  process.exit(1)
}
