from moecalc.console import main

main()
