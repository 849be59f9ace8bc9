print("bayesprune")
