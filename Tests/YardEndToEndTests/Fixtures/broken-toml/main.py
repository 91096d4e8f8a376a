print("this app must never start")
