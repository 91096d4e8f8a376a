print('bot')
