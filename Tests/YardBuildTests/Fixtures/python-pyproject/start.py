print('start')
