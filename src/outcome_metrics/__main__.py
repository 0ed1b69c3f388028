from outcome_metrics.cli import main

main()
