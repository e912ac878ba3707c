"""The developer's machine: onboarding (`ccprov workstation`), the switcher's backends file,
`ccprov status` without an inventory, and `ccprov smoke` with the real `claude` CLI."""
