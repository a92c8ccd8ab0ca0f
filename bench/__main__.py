"""`python -m bench` (or `make bench`): run every benchmark and print its figures."""

from bench import auth, transactions

if __name__ == "__main__":
    print("== transactions ==")
    transactions.main()
    print("== auth ==")
    auth.main()
