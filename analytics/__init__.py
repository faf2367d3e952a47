"""Read-only views over the other apps: KPIs, funnels, leaderboards and exports."""
