"""`python -m bench` (or `make bench`): run every benchmark and print its figures."""

from bench import auth, backup, catalog, gateway, orders, transactions

if __name__ == "__main__":
    for name, benchmark in (
        ("transactions", transactions),
        ("auth", auth),
        ("orders", orders),
        ("catalog", catalog),
        ("gateway", gateway),
        ("backup", backup),
    ):
        print(f"== {name} ==", flush=True)
        benchmark.main()
