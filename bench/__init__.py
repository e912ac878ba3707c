"""ccprov's benchmarks (figures, not pass/fail): `python -m bench`, from the repository's root.

One module per part: onboarding, fleet, gateway, cold, agents, route_compare (`routes`) and
affinity; common holds what they share, report keeps bench/results.json and renders
bench/README.md from report.md.j2. The stand-ins and the gateway they start come from
tests/support, as the tests' own fixtures do.
"""
