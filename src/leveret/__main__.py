from leveret.cli import main

main(prog_name="leveret")
