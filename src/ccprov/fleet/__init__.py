"""An inventory's hosts, over SSH from the controller: `ccprov status -i`, `ccprov usage`,
`ccprov audit`. What runs on the hosts themselves is in ccprov.probes."""
