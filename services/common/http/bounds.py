"""The largest values the database's integer columns hold, for bounding path and query
parameters: a value past them is a 422 naming the parameter, not a driver overflow (500)."""

# PostgreSQL bigint: log positions, stream versions, tree sizes.
BIGINT_MAX = 2**63 - 1
# PostgreSQL integer: status list ids.
INTEGER_MAX = 2**31 - 1
