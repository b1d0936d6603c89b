from v1ann.cli import main

if __name__ == "__main__":
    main()
