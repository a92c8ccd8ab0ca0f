"""`python -m bench` (or `make bench`): run every benchmark and print its figures."""

from bench import transactions

if __name__ == "__main__":
    transactions.main()
