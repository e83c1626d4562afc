"""scripts/chaos: fault injection on real walquorum processes and an offline
checker of what they acknowledged (issue 7). Python 3 standard library only.

Modules: util (LSNs, CRC-32C, segment files), proxy (the fault-injecting TCP
proxy every link goes through), schedule (the seeded fault plan), run (the
cluster and the injector), check (the offline checker), cli (arguments)."""
