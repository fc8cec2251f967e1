from bus.tools.cli import main

main()
