"""The ledger: applications, awards, payments, budgets, targets and the audit chain."""
