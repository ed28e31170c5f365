package main

// methodology is the explanation printed under the results table.
const methodology = `## How to read it

- **Accounts** (fake provider, buckets start empty): org-a = keys sk-a1 + sk-a2 sharing RPM 50 /
  ITPM 40,000 / OTPM 16,000; org-b = sk-b1 + sk-b2 sharing RPM 30 / ITPM 50,000 / OTPM 12,000;
  org-c = sk-c alone, RPM 60 / ITPM 60,000 / OTPM 8,000; org-d = sk-d alone, RPM 20 / ITPM 30,000 /
  OTPM 10,000.
- **Workload** (Poisson arrivals): 40% short (200 in / 100 out), 30% short streamed (300 / 300),
  15% long (4,000 / 200), 15% long streamed (2,000 / 800); output sizes set with the fake's
  ` + "`[[output_tokens=N]]`" + ` directive. Under this mix org-a is bound by input tokens, org-b
  and org-d by requests, org-c by output tokens. Demand is a share of the aggregate capacity:
  the sum over organisations of the average requests per minute their binding limit admits
  (keys of one organisation count once).
- **Capacity delivered** = for each organisation, the largest share of any of its three limits
  consumed in the measured window (upstream counters of the fake: admitted requests, charged input
  and output tokens), weighted by the organisation's capacity. Request counts alone would flatter
  a pool that starves long prompts. Output tokens are charged after the fact (buckets may go into
  debt), so a share can exceed 100% by a little.
- **Configurations**: *pinned* is today's baseline: six clients, each holding one key and calling
  the provider directly, sharing the demand equally. *learned*: one pool of the six keys with no
  limits and no limit groups configured (everything learned from headers). *grouped*: the same
  with ` + "`limitGroup`" + ` set for the two organisations' keys. Each pool sits behind the real
  proxy (` + "`proxy.New`" + `) on loopback, with failover maxAttempts 3.
- **Clients**: on a 429 a client waits exactly the Retry-After it was given and retries (up to 8
  times), while new demand keeps arriving. *1st retry at RA ok* is the share of throttled requests
  whose first retry succeeded; *RA lateness* is the time from the first advised retry time to the
  eventual success (includes time queued in the pool and the response itself).
- **Time**: the fake provider and the pool share one scaled clock (the pool's clock also drives its
  queued waits). Every duration in the table, every Retry-After and every reset header is in
  simulated time; the proxy's Retry-After header is whole *simulated* seconds, which the clients
  convert back to real time by dividing by the scale. What scaling cannot compress: real CPU and
  loopback latency (a few ms real = a hundred ms or more simulated at 40x) and Go timer granularity
  (about 1 ms real = 40 ms simulated at 40x), which make the clients' retries slightly late and responses
  slow by simulated standards; on a real clock those effects are 40 times smaller.
  *max lag* is the longest the workload generator overslept, in simulated time: on a busy host
  (other jobs on the same 2 cores) the processes stall while the scaled clock runs on, which costs
  a little capacity and delays retries; compare it with the 1 s Retry-After granularity.
`
