from callemo.cli import main

main()
