import YardCLI

await Yard.runMain()
