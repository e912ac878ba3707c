"""The gateways' trust: per-developer keys (`ccprov keys`) and the private CA for their TLS
(`ccprov ca`), both kept in the inventory."""
