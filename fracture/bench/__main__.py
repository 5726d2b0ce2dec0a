from fracture.bench.cli import main

main()
