"""Every account side by side: the overview's rows and totals per currency."""
