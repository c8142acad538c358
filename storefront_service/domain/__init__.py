"""Pure rules of the showcase: money, carts, reservations. No Flask, no SQL, no I/O."""
