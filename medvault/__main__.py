from medvault.cli.main import main

main()
