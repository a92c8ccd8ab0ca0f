"""`python -m bench` (or `make bench`): run every benchmark and print its figures."""

from bench import auth, catalog, gateway, orders, transactions

if __name__ == "__main__":
    for name, benchmark in (
        ("transactions", transactions),
        ("auth", auth),
        ("orders", orders),
        ("catalog", catalog),
        ("gateway", gateway),
    ):
        print(f"== {name} ==", flush=True)
        benchmark.main()
