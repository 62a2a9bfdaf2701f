"""FlossPay's net banking rail: the customer is redirected to their bank, approves there, and comes back."""
